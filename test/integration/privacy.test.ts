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
import knex from "knex";
import pino from "pino";
import { testPostgres } from "../helpers/postgres.js";

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Every value of every table, as bytes to search (the logical view of what PostgreSQL stores). */
async function allRows(connection: string): Promise<Buffer> {
  const db = knex({ client: "pg", connection });
  try {
    const tables = (await db("information_schema.tables")
      .where({ table_schema: "public", table_type: "BASE TABLE" })
      .select("table_name")) as { table_name: string }[];
    const parts: Buffer[] = [];
    for (const { table_name } of tables) {
      for (const row of (await db(table_name).select("*")) as Record<string, unknown>[]) {
        for (const value of Object.values(row)) {
          parts.push(Buffer.isBuffer(value) ? value : Buffer.from(String(value)));
        }
      }
    }
    return Buffer.concat(parts);
  } finally {
    await db.destroy();
  }
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

  it("no table of the PostgreSQL store holds a message body or the sender's address", async () => {
    const connection = await (await testPostgres()).createDatabase("privacy");
    const server = await startTestServer("b.test", {
      config: { database: { engine: "postgres", connection } },
    });
    const jane = makeAccount("jane.secret-sender@a.test", Date.now(), { devices: 1 });
    const bodies: string[] = [];
    try {
      const joe = await registerAccount(server, "joe", 1);
      const key = await envelopeKeyOf(server);
      for (let i = 0; i < 10; i++) {
        bodies.push(`pg-confidential-body-${i}`);
        const copy = seal({
          from: jane,
          to: [joe.address],
          copies: [{ address: joe.address, devices: joe.devices.map((d) => d.head.encKey), server: key }],
          body: bodies[i]!,
          now: Date.now(),
          ttlMs: 86_400_000,
        }).copies[0]!;
        assert.equal((await postEnvelope(server, copy.outer)).status, 200);
      }
      const stored = await allRows(connection);
      assert.ok(stored.includes(Buffer.from(joe.address)), "the search sees the stored rows");
      for (const needle of [...bodies, jane.address, "jane.secret-sender"]) {
        assert.equal(stored.includes(Buffer.from(needle)), false, `${needle} found in the database`);
      }
    } finally {
      await server.stop();
    }
  });
});
