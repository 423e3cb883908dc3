// The bridge store's SQLite fast path (src/bridge/adapters/store/sqlite-fast-path.ts):
// statements run on the connection itself only while no knex transaction is
// open on it (else they would join it and go with its rollback), and the
// stores that use it read back what they wrote, by either way.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import knex, { type Knex } from "knex";
import { sqliteKnexConfig } from "../../src/store/knex/knex-config.js";
import {
  SqliteFastPath,
  FAST_PATH_CLOSED,
  type ConnectionRef,
} from "../../src/bridge/adapters/store/sqlite-fast-path.js";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import type { BridgeStore } from "../../src/bridge/core/ports/store.js";
import { statementCounts } from "../../src/shared/statement-cache.js";

describe("bridge store SQLite fast path", function () {
  let dir: string;
  let db: Knex;
  let ref: ConnectionRef;
  let store: BridgeStore;

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), "bridge-fast-"));
    ref = {};
    db = knex(sqliteKnexConfig(join(dir, "t.db"), "NORMAL", (conn) => (ref.current = conn)));
    await db.raw("create table t (k text primary key, v integer)");
    store = await openBridgeStore({ engine: "sqlite", connection: join(dir, "bridge.db") });
  });

  after(async function () {
    await db.destroy();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("runs on the connection while no transaction is open, and hands over to knex while one is", async function () {
    const fast = new SqliteFastPath(ref);
    assert.equal(fast.run("insert into t (k, v) values (?, ?)", ["a", 1]), true);
    assert.deepEqual(fast.get("select * from t where k = ?", ["a"]), { k: "a", v: 1 });
    assert.equal(fast.get("select * from t where k = ?", ["none"]), undefined);

    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let opened!: () => void;
    const isOpen = new Promise<void>((r) => (opened = r));
    const trx = db.transaction(async (t) => {
      await t("t").insert({ k: "b", v: 2 });
      opened();
      await held;
      throw new Error("rolled back");
    });
    await isOpen;
    // Inside the open transaction a statement would be rolled back with it: knex's way instead.
    assert.equal(fast.run("insert into t (k, v) values (?, ?)", ["c", 3]), false);
    assert.equal(fast.get("select * from t where k = ?", ["b"]), FAST_PATH_CLOSED);
    release();
    await assert.rejects(trx, /rolled back/);
    assert.equal(fast.get("select * from t where k = ?", ["b"]), undefined);
    assert.equal(fast.run("insert into t (k, v) values (?, ?)", ["c", 3]), true);
    assert.deepEqual(await db("t").orderBy("k"), [
      { k: "a", v: 1 },
      { k: "c", v: 3 },
    ]);
  });

  it("hands over to knex without a connection (PostgreSQL has none)", function () {
    const fast = new SqliteFastPath({});
    assert.equal(fast.run("select 1", []), false);
    assert.equal(fast.get("select 1", []), FAST_PATH_CLOSED);
  });

  it("the message map, transactions and catch-up marks take it, and read back what they wrote", async function () {
    const bridgeCount = (sql: string) => statementCounts().get("bridge")?.get(sql) ?? 0;
    const byEvent = "SELECT * FROM message_map WHERE matrix_event_id = ? LIMIT 1";
    const before = bridgeCount(byEvent);
    await store.messages.put({
      matrixEventId: "$e1",
      peopleMessageId: "m1",
      peopleSender: "joe@x.test",
      owner: "ann@y.test",
      roomId: "!r:hs",
      createdAt: 5,
    });
    // The same message again (either constraint): nothing changes.
    await store.messages.put({
      matrixEventId: "$e1",
      peopleMessageId: "m2",
      peopleSender: "joe@x.test",
      roomId: "!r:hs",
      createdAt: 6,
    });
    const mapping = await store.messages.byEvent("$e1");
    assert.deepEqual(mapping, {
      matrixEventId: "$e1",
      peopleMessageId: "m1",
      peopleSender: "joe@x.test",
      owner: "ann@y.test",
      roomId: "!r:hs",
      createdAt: 5,
    });
    assert.equal(bridgeCount(byEvent) - before, 1);
    assert.equal((await store.messages.byMessage("joe@x.test", "m1", "ann@y.test"))?.matrixEventId, "$e1");
    assert.equal((await store.messages.byMessage("joe@x.test", "m1"))?.matrixEventId, "$e1");
    assert.equal(await store.messages.byMessage("joe@x.test", "m1", "bob@y.test"), undefined);

    await store.transactions.put({ txnId: "t1", eventsHash: "h1", processedAt: 1 });
    await store.transactions.put({ txnId: "t1", eventsHash: "h2", processedAt: 2 });
    assert.deepEqual(await store.transactions.get("t1"), { txnId: "t1", eventsHash: "h2", processedAt: 2 });
    assert.equal(await store.transactions.get("t2"), undefined);

    await store.catchUp.seen("!r:hs", "$late", 20);
    await store.catchUp.seen("!r:hs", "$early", 10); // older: leaves the newer alone
    await store.catchUp.promote();
    await store.catchUp.promote();
    const marks = await store.catchUp.list();
    assert.deepEqual(
      marks.find((m) => m.roomId === "!r:hs"),
      { roomId: "!r:hs", eventId: "$late", eventTs: 20 },
    );
  });
});
