// The appservice endpoint and handler failures, over real HTTP on loopback:
// a handler that asks for a retry (RetryLater) fails the transaction (the
// homeserver resends it, nothing is recorded), any other failure is logged,
// counted and acknowledged so one poison event cannot block the bridge. And
// a transaction id the homeserver uses again for other events (Synapse on
// SQLite after a restart) is applied, even while the first is still in flight.
import assert from "node:assert/strict";
import { TransactionalAppService } from "../../src/bridge/appservice/transactional-appservice.js";
import { RetryLater } from "../../src/bridge/errors.js";
import type { ProcessedTransaction, TransactionStore } from "../../src/bridge/store/types.js";
import { putTransaction } from "../helpers/bridge-harness.js";
import { newMetrics, silentLog } from "../helpers/portal-fakes.js";

const TOKEN = "hs-token-for-the-retry-test";

class MemoryTransactions implements TransactionStore {
  readonly rows = new Map<string, ProcessedTransaction>();
  async get(id: string) {
    return this.rows.get(id);
  }
  async put(t: ProcessedTransaction) {
    this.rows.set(t.txnId, t);
  }
  async prune() {
    return 0;
  }
}

describe("appservice transactions and failing handlers", function () {
  let appservice: TransactionalAppService;
  let transactions: MemoryTransactions;
  const metrics = newMetrics();
  let behaviour: (eventId: string) => void = () => undefined;
  const handled: string[] = [];

  before(async function () {
    transactions = new MemoryTransactions();
    appservice = new TransactionalAppService({
      homeserverToken: TOKEN,
      transactions,
      log: silentLog,
      metrics,
    });
    appservice.on("event", async (event: Record<string, unknown>) => {
      handled.push(String(event.event_id));
      behaviour(String(event.event_id));
    });
    await appservice.listen(0, "127.0.0.1", 16);
  });

  after(() => appservice.close());

  const txn = (...ids: string[]) => ({
    events: ids.map((id) => ({
      type: "m.room.message",
      room_id: "!r:hs",
      sender: "@a:hs",
      event_id: id,
      content: {},
    })),
  });

  it("fails the transaction when a handler asks for a retry, and applies it when resent", async function () {
    behaviour = (id) => {
      if (id === "$later") throw new RetryLater("People is unreachable");
    };
    const first = await putTransaction(appservice.port!, TOKEN, "t-retry", txn("$before", "$later"));
    assert.equal(first.status, 500);
    assert.equal(await transactions.get("t-retry"), undefined);
    behaviour = () => undefined;
    const again = await putTransaction(appservice.port!, TOKEN, "t-retry", txn("$before", "$later"));
    assert.equal(again.status, 200);
    assert.ok(await transactions.get("t-retry"));
    // The whole transaction ran again: handlers make their effects idempotent.
    assert.deepEqual(handled, ["$before", "$later", "$before", "$later"]);
    assert.equal((await metrics.eventRetries.get()).values[0]?.value, 1);
  });

  it("applies a transaction id reused for other events, even while the first delivery is in flight", async function () {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    behaviour = () => undefined;
    appservice.removeAllListeners("event");
    appservice.on("event", async (event: Record<string, unknown>) => {
      handled.push(String(event.event_id));
      behaviour(String(event.event_id));
      if (event.event_id === "$slow") await held;
    });
    handled.length = 0;
    const first = putTransaction(appservice.port!, TOKEN, "t-reused", txn("$slow"));
    while (!handled.includes("$slow")) await new Promise((r) => setImmediate(r));
    // The same id with other events, while "$slow" is still being handled: not answered by the first.
    const second = await putTransaction(appservice.port!, TOKEN, "t-reused", txn("$new"));
    assert.equal(second.status, 200);
    assert.deepEqual(handled, ["$slow", "$new"]);
    release();
    assert.equal((await first).status, 200);
    // A replay of the delivery recorded last is not applied again.
    await putTransaction(appservice.port!, TOKEN, "t-reused", txn("$slow"));
    assert.deepEqual(handled, ["$slow", "$new"]);
  });

  it("acknowledges a transaction whose handler failed otherwise, and counts the failure", async function () {
    behaviour = () => {
      throw new Error("a bug");
    };
    const res = await putTransaction(appservice.port!, TOKEN, "t-poison", txn("$poison"));
    assert.equal(res.status, 200);
    assert.ok(await transactions.get("t-poison"));
    assert.equal((await metrics.eventErrors.get()).values[0]?.value, 1);
  });
});
