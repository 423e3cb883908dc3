// Client stores sharing a bounded pool of SQLite connections (store-handles.ts),
// on real SQLite files: never more connections open than the bound, and a store
// whose connection the pool closed reads and writes as if it had stayed open
// (the replay guard included), with its writes in the database file.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import fc from "fast-check";
import sodium from "sodium-native";
import type { ClientStore, ContactRecord, StoredMessage } from "../../src/people/client/local-store.js";
import { CLIENT_DB_FILE, openSqliteClientStore } from "../../src/people/client/local-store-sqlite.js";
import { SqliteHandlePool } from "../../src/people/client/store-handles.js";
import { removeTempDirs, tempDir } from "../helpers/client-fixtures.js";

const FAST_KDF = {
  opslimit: sodium.crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_MIN,
  memlimit: sodium.crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_MIN,
};

function contact(address: string, version: number): ContactRecord {
  return {
    address,
    accountKey: "k",
    version,
    pinned: { list: { body: "", sig: "" }, chains: {} },
    verified: false,
    state: "trusted",
    pending: null,
    lastChange: 0,
    fetchedAt: 0,
  };
}

function message(id: string): StoredMessage {
  return {
    id,
    from: "joe@other.test",
    device: "d1",
    ts: 1,
    exp: Date.now() + 3_600_000,
    to: ["ann@people.test"],
    content: { type: "text", body: `hello ${id}` },
    receivedAt: 1,
    outgoing: false,
  };
}

async function openStores(
  n: number,
  pool: SqliteHandlePool,
): Promise<{ dirs: string[]; stores: ClientStore[] }> {
  const dirs: string[] = [];
  const stores: ClientStore[] = [];
  for (let i = 0; i < n; i++) {
    const dir = tempDir(`pool-${i}`);
    dirs.push(dir);
    stores.push(
      await openSqliteClientStore({
        dataDir: dir,
        key: { passphrase: `p${i}` },
        kdf: FAST_KDF,
        cacheKiB: 64,
        handles: pool,
      }),
    );
    assert.ok(pool.size <= pool.max, `${pool.size} connections open, bound ${pool.max}`);
  }
  return { dirs, stores };
}

describe("client stores on a bounded pool of SQLite connections", () => {
  after(() => removeTempDirs());

  it("keeps at most the bound open, and each store reads back what it wrote after its connection was closed", async () => {
    const pool = new SqliteHandlePool(2);
    const { stores } = await openStores(6, pool);
    for (const [i, store] of stores.entries()) {
      await store.putContact(contact(`c${i}@other.test`, i));
      await store.enqueue([
        {
          envelopeId: `e${i}`,
          messageId: `m${i}`,
          address: `c${i}@other.test`,
          outer: Buffer.from(`outer ${i}`),
          createdAt: 1,
          expiresAt: Date.now() + 60_000,
        },
      ]);
      assert.ok(pool.size <= 2);
    }
    const opensBefore = pool.opened;
    for (const [i, store] of stores.entries()) {
      assert.equal((await store.getContact(`c${i}@other.test`))?.version, i);
      const outbox = await store.outbox();
      assert.deepEqual(
        outbox.map((r) => [r.envelopeId, r.outer.toString()]),
        [[`e${i}`, `outer ${i}`]],
      );
      assert.equal(
        await store.getContact(`c${(i + 1) % 6}@other.test`),
        undefined,
        "another store's contact",
      );
      assert.ok(pool.size <= 2);
    }
    // Six stores through two connections: each was opened again to be read.
    assert.ok(pool.opened - opensBefore >= 4, `${pool.opened - opensBefore} connections opened to read`);
    for (const store of stores) await store.close();
    assert.equal(pool.size, 0);
  });

  it("keeps the replay guard across a closed connection: a committed message is never new again", async () => {
    const pool = new SqliteHandlePool(1);
    const { stores } = await openStores(2, pool);
    const [a, b] = stores as [ClientStore, ClientStore];
    const first = await a.commitMessage(message("x1"), false);
    assert.equal(first.status, "new");
    await b.loadIdentity(); // takes the one connection: a's is closed
    const again = await a.commitMessage(message("x1"), false);
    assert.equal(again.status, "undelivered");
    if (first.status === "new") await a.markDelivered(first.seq);
    await b.loadIdentity();
    assert.deepEqual(await a.commitMessage(message("x1"), false), { status: "delivered" });
    assert.equal((await a.undelivered()).length, 0);
    await a.close();
    await b.close();
  });

  it("leaves a closed connection's writes in the database file, and sync() after it resolves", async () => {
    const pool = new SqliteHandlePool(1);
    const { dirs, stores } = await openStores(2, pool);
    const [a, b] = stores as [ClientStore, ClientStore];
    await a.commitMessage(message("y1"), true);
    await a.sync();
    await b.loadIdentity();
    const file = join(dirs[0]!, CLIENT_DB_FILE);
    // Closing checkpointed the WAL into the file and removed it.
    assert.equal(existsSync(`${file}-wal`), false);
    const raw = new Database(file);
    try {
      assert.equal((raw.prepare("SELECT count(*) AS n FROM inbox").get() as { n: number }).n, 1);
    } finally {
      raw.close();
    }
    await a.sync();
    assert.equal((await a.inbox()).length, 1);
    await a.close();
    await b.close();
  });

  it("refuses a closed store's use instead of opening it again", async () => {
    const pool = new SqliteHandlePool(4);
    const { stores } = await openStores(1, pool);
    await stores[0]!.close();
    await assert.rejects(stores[0]!.getContact("c@other.test"), /closed/);
    assert.equal(pool.size, 0);
  });

  it("reads like stores that stay open, whatever the order of use (property)", async () => {
    const pool = new SqliteHandlePool(2);
    const { stores } = await openStores(4, pool);
    const model = new Map<string, number>();
    const op = fc.record({
      store: fc.integer({ min: 0, max: 3 }),
      contact: fc.integer({ min: 0, max: 2 }),
      write: fc.option(fc.integer({ min: 0, max: 1_000 }), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
        for (const o of ops) {
          const store = stores[o.store]!;
          const address = `k${o.contact}@other.test`;
          const key = `${o.store}/${address}`;
          if (o.write !== undefined) {
            await store.putContact(contact(address, o.write));
            model.set(key, o.write);
          } else {
            assert.equal((await store.getContact(address))?.version, model.get(key));
          }
          assert.ok(pool.size <= 2);
        }
      }),
      { numRuns: 40 },
    );
    for (const store of stores) await store.close();
  });
});
