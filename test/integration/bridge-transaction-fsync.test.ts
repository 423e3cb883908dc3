// When the bridge fsyncs its store for a homeserver transaction, over real
// HTTP and a real SQLite bridge store: a transaction whose handling wrote a
// row is fsynced before its answer; one whose handling wrote nothing (the
// bridge's own events coming back) is recorded without an fsync; and writes a
// handler left to the transaction (TransactionWrites) are done before the
// answer, a failed one failing it (the homeserver sends it again).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TransactionWrites } from "../../src/bridge/adapters/appservice/transaction-writes.js";
import { TransactionalAppService } from "../../src/bridge/adapters/appservice/transactional-appservice.js";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import type { BridgeStore } from "../../src/bridge/core/ports/store.js";
import { putTransaction } from "../helpers/bridge-harness.js";
import { newMetrics, silentLog } from "../helpers/portal-fakes.js";

const TOKEN = "hs-token-for-the-fsync-test";

describe("appservice transactions: fsync only what was written", function () {
  let dir: string;
  let store: BridgeStore;
  let appservice: TransactionalAppService;
  let fsyncs = 0;
  const writes = new TransactionWrites();
  let failDeferred = false;

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), "bridge-txn-fsync-"));
    store = await openBridgeStore({ engine: "sqlite", connection: join(dir, "bridge.db") });
    appservice = new TransactionalAppService({
      homeserverToken: TOKEN,
      transactions: store.transactions,
      log: silentLog,
      metrics: newMetrics(),
      durable: async () => {
        fsyncs++;
        await store.sync();
      },
      changes: () => store.changes!(),
      writes,
    });
    appservice.on("event", async (event: Record<string, unknown>) => {
      const id = String(event.event_id);
      const mapping = {
        matrixEventId: id,
        peopleMessageId: `m-${id}`,
        peopleSender: "alice@people.test",
        roomId: "!r:hs",
        createdAt: 1,
      };
      if (id.startsWith("$write")) await store.messages.put(mapping);
      if (id.startsWith("$deferred")) {
        const later = (async () => {
          await new Promise((r) => setTimeout(r, 20));
          if (failDeferred) throw new Error("the outbox fsync failed");
          await store.messages.put(mapping);
        })();
        if (!writes.defer(later)) await later;
      }
    });
    await appservice.listen(0, "127.0.0.1", 16);
  });

  after(async function () {
    await appservice.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const txn = (id: string) => ({
    events: [{ type: "m.room.message", room_id: "!r:hs", sender: "@a:hs", event_id: id, content: {} }],
  });

  it("fsyncs a transaction whose handling wrote a row, before answering", async function () {
    const before = fsyncs;
    assert.equal((await putTransaction(appservice.port!, TOKEN, "t-write", txn("$write1"))).status, 200);
    assert.equal(fsyncs, before + 1);
    assert.ok(await store.messages.byEvent("$write1"));
  });

  it("records a transaction whose handling wrote nothing without an fsync", async function () {
    const before = fsyncs;
    assert.equal((await putTransaction(appservice.port!, TOKEN, "t-own", txn("$own1"))).status, 200);
    assert.equal(fsyncs, before);
    assert.ok(await store.transactions.get("t-own"), "recorded all the same");
  });

  it("answers only after a deferred write, and fails the transaction when it failed", async function () {
    const before = fsyncs;
    assert.equal((await putTransaction(appservice.port!, TOKEN, "t-def", txn("$deferred1"))).status, 200);
    assert.ok(await store.messages.byEvent("$deferred1"), "written before the answer");
    assert.equal(fsyncs, before + 1);
    failDeferred = true;
    const failed = await putTransaction(appservice.port!, TOKEN, "t-def2", txn("$deferred2"));
    assert.equal(failed.status, 500);
    assert.equal(await store.transactions.get("t-def2"), undefined, "not recorded: it comes again");
    failDeferred = false;
    assert.equal((await putTransaction(appservice.port!, TOKEN, "t-def2", txn("$deferred2"))).status, 200);
    assert.ok(await store.messages.byEvent("$deferred2"));
  });
});
