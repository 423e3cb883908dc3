// The tests' free ports: below the kernel's ephemeral range (so no outgoing
// connection takes one before its server binds), distinct, and bindable.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { freePort } from "../helpers/ports.js";

describe("test helper freePort", function () {
  it("hands out distinct ports below the ephemeral range that a server can bind", async function () {
    const ephemeralLow = Number(
      readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").split(/\s+/)[0],
    );
    const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
    assert.equal(new Set(ports).size, ports.length, "a port was handed out twice");
    for (const p of ports) assert.ok(p < ephemeralLow, `${p} is in the ephemeral range`);
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(ports[0], "127.0.0.1", resolve);
    });
    await new Promise((r) => server.close(r));
  });
});
