// Mail queued while a server was down goes as soon as the server is back,
// not at the copy's own backoff: the device's live connection reconnecting
// flushes what waits (its own server was down), and while the device is
// online a server found down is probed often, one copy at a time, the first
// copy that gets through releasing the others. The copies' own backoff is
// set to 10 minutes or more here, so a delivery within the test proves the
// trigger; each delivery is also checked against the retry time the outbox
// announced for that copy (its "deferred" event).
import assert from "node:assert/strict";
import { PeopleClient, type ClientOptions } from "../../src/people/client/people-client.js";
import type { DeferredEvent } from "../../src/people/client/events.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { freePort } from "../helpers/ports.js";
import {
  Recorder,
  clientOptions,
  networkOf,
  removeTempDirs,
  tempDir,
  waitUntil,
} from "../helpers/client-fixtures.js";

const ONLINE_MAX_MS = 300;

interface Device {
  client: PeopleClient;
  rec: Recorder;
  deferred: (DeferredEvent & { seenAt: number })[];
  delivered: { address: string; at: number }[];
  opened: number[];
}

describe("outbox: mail queued while a server was down goes when it is back", function () {
  this.timeout(90_000);
  const servers = new Map<string, { server: TestServer; dir: string; port: number }>();
  let network: Pick<ClientOptions, "pins" | "ca">;
  const devices = new Map<string, Device>();
  const dev = (address: string): Device => devices.get(address)!;

  async function startServer(domain: string): Promise<void> {
    const known = servers.get(domain);
    const dir = known?.dir ?? tempDir(`flush-${domain}`);
    const port = known?.port ?? (await freePort());
    const server = await startTestServer(domain, {
      dataDir: dir,
      config: { listen: { host: "127.0.0.1", port } },
    });
    servers.set(domain, { server, dir, port });
  }

  before(async function () {
    this.timeout(120_000);
    await startServer("a.test");
    await startServer("b.test");
    network = networkOf([...servers.values()].map((s) => s.server));
    for (const address of ["jane@a.test", "kim@a.test", "joe@b.test", "ann@b.test"]) {
      const client = await PeopleClient.create({
        ...clientOptions(network, tempDir(address)),
        address,
        // A copy's own backoff: 5 to 10 minutes after its first failure, far past this test.
        backoff: { baseMs: 10 * 60_000, maxMs: 60 * 60_000, onlineMaxMs: ONLINE_MAX_MS },
      });
      const d: Device = { client, rec: new Recorder(client), deferred: [], delivered: [], opened: [] };
      client.on("deferred", (e) => d.deferred.push({ ...e, seenAt: Date.now() }));
      client.on("delivered", (e) => d.delivered.push({ address: e.address, at: Date.now() }));
      client.on("connection", (c) => {
        if (c.state === "open") d.opened.push(Date.now());
      });
      devices.set(address, d);
      await client.start();
    }
    // Everyone has everyone's keys (and the servers' envelope keys) saved, to seal while a server is down.
    await dev("jane@a.test").client.sendText(["kim@a.test", "joe@b.test", "ann@b.test"], "hello");
    await waitUntil(
      () => ["kim@a.test", "joe@b.test", "ann@b.test"].every((a) => dev(a).rec.texts().includes("hello")),
      "the first message to arrive",
      30_000,
    );
  });

  after(async () => {
    for (const d of devices.values()) await d.client.close().catch(() => undefined);
    for (const s of servers.values()) await s.server.stop().catch(() => undefined);
    removeTempDirs();
  });

  it("the device's own server comes back: reconnecting flushes the outbox at once", async () => {
    const jane = dev("jane@a.test");
    const a = servers.get("a.test")!;
    await a.server.stop();
    await jane.client.sendText(["kim@a.test"], "while a is down");
    await waitUntil(
      () => jane.deferred.some((e) => e.address === "kim@a.test"),
      "Jane's copy for Kim to wait in the outbox",
    );
    const waiting = jane.deferred.find((e) => e.address === "kim@a.test")!;
    assert.ok(waiting.retryAt - waiting.seenAt >= 5 * 60_000, "its own backoff is minutes away");
    const reconnectsBefore = jane.opened.length;

    const backAt = Date.now();
    await startServer("a.test");
    await waitUntil(() => dev("kim@a.test").rec.texts().includes("while a is down"), "Kim to get it", 30_000);
    // The server pushes new mail at its commit, before it answers the sender (after its fsync).
    await waitUntil(
      () => jane.delivered.some((e) => e.address === "kim@a.test" && e.at >= backAt),
      "Jane's outbox to see the copy accepted",
      30_000,
    );
    const delivered = jane.delivered.find((e) => e.address === "kim@a.test" && e.at >= backAt)!;
    assert.ok(delivered, "Jane's outbox delivered it");
    // What set it off: Jane's live connection opened again, before the delivery and long before its backoff.
    assert.ok(jane.opened.length > reconnectsBefore, "Jane reconnected");
    assert.ok(jane.opened[reconnectsBefore]! <= delivered.at);
    assert.ok(delivered.at < waiting.retryAt, "delivered before its own backoff would have tried again");
    assert.equal(jane.deferred.filter((e) => e.address === "kim@a.test").length, 1, "tried once while down");
    await waitUntil(async () => (await jane.client.outboxSize()) === 0, "Jane's outbox to empty");
    console.log(
      `      [measured] outbox after reconnect: delivered ${delivered.at - backAt} ms after a.test was back ` +
        `(its own backoff would have tried after ${Math.round((waiting.retryAt - backAt) / 1000)} s)`,
    );
  });

  it("another server comes back: one copy probes it while the device is online, and the first through releases the rest", async () => {
    const jane = dev("jane@a.test");
    const b = servers.get("b.test")!;
    await b.server.stop();
    jane.deferred.length = 0;
    await jane.client.sendText(["joe@b.test", "ann@b.test"], "while b is down");
    const count = (address: string) => jane.deferred.filter((e) => e.address === address).length;
    // Both copies fail once; then only one of them probes b.test again and again.
    await waitUntil(
      () =>
        Math.max(count("joe@b.test"), count("ann@b.test")) >= 4 &&
        Math.min(count("joe@b.test"), count("ann@b.test")) >= 1,
      "b.test to be probed a few times",
    );
    const [prober, other] =
      count("joe@b.test") >= 4 ? ["joe@b.test", "ann@b.test"] : ["ann@b.test", "joe@b.test"];
    assert.equal(count(other), 1, "the other copy waits for the probe instead of trying too");
    const ownRetry = Math.min(...jane.deferred.map((e) => e.retryAt));
    assert.ok(ownRetry - Date.now() >= 4 * 60_000, "the copies' own backoff is minutes away");
    const reconnectsBefore = jane.opened.length;

    const backAt = Date.now();
    await startServer("b.test");
    await waitUntil(
      () => ["joe@b.test", "ann@b.test"].every((a) => dev(a).rec.texts().includes("while b is down")),
      "Joe and Ann to get it",
      30_000,
    );
    await waitUntil(
      () =>
        ["joe@b.test", "ann@b.test"].every((a) =>
          jane.delivered.some((e) => e.address === a && e.at >= backAt),
        ),
      "Jane's outbox to see both copies accepted",
      30_000,
    );
    const at = (address: string) => jane.delivered.find((e) => e.address === address && e.at >= backAt)!.at;
    assert.ok(at(prober) <= at(other), "the probe went first and released the other copy");
    assert.ok(Math.max(at(prober), at(other)) < ownRetry, "both delivered before their own backoff");
    assert.equal(count(other), 1, "the other copy was never tried while b.test was down");
    assert.equal(
      jane.opened.length,
      reconnectsBefore,
      "Jane's own connection stayed up: no reconnect did this",
    );
    assert.equal(await jane.client.outboxSize(), 0);
    console.log(
      `      [measured] outbox probe: both copies delivered ${Math.max(at(prober), at(other)) - backAt} ms after b.test was back ` +
        `(probe interval at most ${ONLINE_MAX_MS} ms here, 15 s by default; own backoff ${Math.round((ownRetry - backAt) / 1000)} s)`,
    );
  });
});
