// What a server keeps must not let it read content or name a sender: after
// real traffic, the database files and the server's own logs (at trace level)
// are searched for the plaintext bodies and the sender's address.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../src/people/server/logger.js";
import { makeAccount, seal } from "../helpers/protocol-fixtures.js";
import {
  envelopeKeyOf,
  login,
  postEnvelope,
  registerAccount,
  startTestServer,
} from "../helpers/people-servers.js";
import pino from "pino";

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe("privacy of what the server stores and logs", function () {
  this.timeout(60_000);

  it("neither the SQLite files nor the logs contain a message body or the sender's address", async () => {
    const logPath = join(process.env.TMPDIR ?? "/tmp", `people-privacy-${process.pid}.log`);
    const logger = createLogger("trace", pino.destination({ dest: logPath, sync: true }));
    const server = await startTestServer("b.test", { logger });
    const bodies: string[] = [];
    // A sender address that appears nowhere else in the test.
    const jane = makeAccount("jane.secret-sender@a.test", Date.now(), { devices: 1 });
    try {
      const joe = await registerAccount(server, "joe", 2);
      const key = await envelopeKeyOf(server);
      for (let i = 0; i < 30; i++) {
        const body = `confidential-body-${i}-${"x".repeat(i * 7)}`;
        bodies.push(body);
        const copy = seal({
          from: jane,
          to: [joe.address],
          copies: [{ address: joe.address, devices: joe.devices.map((d) => d.head.encKey), server: key }],
          body,
          now: Date.now(),
          ttlMs: 86_400_000,
        }).copies[0]!;
        assert.equal((await postEnvelope(server, copy.outer)).status, 200);
      }
      // Exercise the authenticated paths too, so their logging is covered.
      const token = await login(server, joe.devices[0]!);
      await server.http.json("GET", `${server.url}/_people/v1/mailbox`, undefined, {
        authorization: `Bearer ${token}`,
      });
      const files = filesUnder(server.dataDir).filter((f) => !f.includes(`${join("tls", "")}`));
      const haystacks = [...files, logPath].map((f) => [f, readFileSync(f)] as const);
      assert.ok(
        haystacks.some(([f]) => f.endsWith("people.db")),
        "the database file was searched",
      );
      const needles = [...bodies, jane.address, "jane.secret-sender", token];
      for (const [file, bytes] of haystacks) {
        for (const needle of needles) {
          assert.equal(bytes.includes(Buffer.from(needle)), false, `${needle.slice(0, 30)} found in ${file}`);
        }
      }
      assert.ok(readFileSync(logPath).length > 0, "the server logged something");
    } finally {
      await server.stop();
    }
  });
});
