// The appservice endpoint and handler failures, over real HTTP on loopback:
// a handler that asks for a retry (RetryLater) fails the transaction (the
// homeserver resends it, nothing is recorded), any other failure is logged,
// counted and acknowledged so one poison event cannot block the bridge. And
// a transaction id the homeserver uses again for other events (Synapse on
// SQLite after a restart) is applied, even while the first is still in flight.
// With the retry queue, an event that fails for now is kept and its
// transaction acknowledged; the event is tried again alone.
import assert from "node:assert/strict";
import { EventRetryQueue } from "../../src/bridge/adapters/appservice/event-retry-queue.js";
import { TransactionalAppService } from "../../src/bridge/adapters/appservice/transactional-appservice.js";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import type {
  BridgeStore,
  ProcessedTransaction,
  TransactionStore,
} from "../../src/bridge/core/ports/store.js";
import { putTransaction } from "../helpers/bridge-harness.js";
import { newMetrics, silentLog } from "../helpers/portal-fakes.js";
import { retryLater } from "../../src/bridge/core/error-kinds.js";

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
      if (id === "$later") throw retryLater("People is unreachable");
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

describe("appservice transactions with the retry queue (real SQLite)", function () {
  let appservice: TransactionalAppService;
  let store: BridgeStore;
  let queue: EventRetryQueue;
  const handled: string[] = [];
  const failing = new Set<string>();

  before(async function () {
    store = await openBridgeStore({ engine: "sqlite", connection: ":memory:" });
    queue = new EventRetryQueue({
      store: store.eventRetries,
      log: silentLog,
      metrics: newMetrics(),
      backoff: { baseMs: 5, maxMs: 20 },
    });
    appservice = new TransactionalAppService({
      homeserverToken: TOKEN,
      transactions: store.transactions,
      log: silentLog,
      metrics: newMetrics(),
      retries: queue,
    });
    appservice.on("event", async (event: Record<string, unknown>) => {
      const id = String(event.event_id);
      if (failing.has(id)) throw retryLater("the media's server answered 502");
      handled.push(id);
    });
    await appservice.listen(0, "127.0.0.1", 16);
  });

  after(async () => {
    await appservice.close();
    await store.close();
  });

  const event = (id: string, content: Record<string, unknown> = {}) => ({
    type: "m.room.message",
    room_id: "!r:hs",
    sender: "@a:hs",
    event_id: id,
    content,
  });
  const until = async (what: string, check: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it("acknowledges a transaction whose event fails for now, keeps the event, and lets later ones through", async function () {
    failing.add("$bad");
    const first = await putTransaction(appservice.port!, TOKEN, "q-1", {
      events: [event("$bad"), event("$ok1")],
    });
    assert.equal(first.status, 200);
    assert.deepEqual(
      (await store.eventRetries.list()).map((r) => r.eventId),
      ["$bad"],
    );
    // Another transaction: handled at once, the bad event still kept.
    const second = await putTransaction(appservice.port!, TOKEN, "q-2", { events: [event("$ok2")] });
    assert.equal(second.status, 200);
    assert.deepEqual(handled, ["$ok1", "$ok2"]);
    // A reaction to the kept event waits behind it.
    const reaction = event("$react", {
      "m.relates_to": { rel_type: "m.annotation", event_id: "$bad", key: "x" },
    });
    assert.equal((await putTransaction(appservice.port!, TOKEN, "q-3", { events: [reaction] })).status, 200);
    // The first transaction delivered again (a homeserver that did not get the answer): the kept event is not run twice.
    assert.equal(
      (await putTransaction(appservice.port!, TOKEN, "q-1b", { events: [event("$bad")] })).status,
      200,
    );
    assert.deepEqual(handled, ["$ok1", "$ok2"]);
    failing.delete("$bad");
    await until("the kept events to be handled", () => handled.includes("$react"));
    assert.deepEqual(handled, ["$ok1", "$ok2", "$bad", "$react"]);
    await until("the queue to be empty", () => queue.depth === 0);
    assert.deepEqual(await store.eventRetries.list(), []);
  });
});

// What tells the bridge the homeserver may count a push as failed (catch-up.ts: Synapse can then
// leave a transaction unpushed): an error answer, a late one, and a transaction that comes again.
describe("appservice transactions the homeserver may count as failed", function () {
  let appservice: TransactionalAppService;
  const signs: string[] = [];
  let clock = 1_000_000;
  let behaviour: (eventId: string) => void = () => undefined;

  before(async function () {
    appservice = new TransactionalAppService({
      homeserverToken: TOKEN,
      transactions: new MemoryTransactions(),
      log: silentLog,
      metrics: newMetrics(),
      now: () => clock,
      onPushFailed: (why) => signs.push(why),
    });
    appservice.on("event", async (event: Record<string, unknown>) => behaviour(String(event.event_id)));
    await appservice.listen(0, "127.0.0.1", 16);
  });

  after(() => appservice.close());

  const txn = (id: string) => ({
    events: [{ type: "m.room.message", room_id: "!r:hs", sender: "@a:hs", event_id: id, content: {} }],
  });

  it("says nothing of a transaction answered at once", async function () {
    assert.equal((await putTransaction(appservice.port!, TOKEN, "s-ok", txn("$ok"))).status, 200);
    assert.deepEqual(signs, []);
  });

  it("tells of an error answer, a transaction resent after it was applied, and a late answer", async function () {
    behaviour = () => {
      throw retryLater("People is unreachable");
    };
    assert.equal((await putTransaction(appservice.port!, TOKEN, "s-err", txn("$err"))).status, 500);
    assert.deepEqual(signs, ["error"]);
    behaviour = () => undefined;
    assert.equal((await putTransaction(appservice.port!, TOKEN, "s-ok", txn("$ok"))).status, 200);
    assert.deepEqual(signs, ["error", "resent"]);
    // The handling takes 31 s of the appservice's clock: Synapse waits 60 s, and the machine is loaded.
    behaviour = () => void (clock += 31_000);
    assert.equal((await putTransaction(appservice.port!, TOKEN, "s-slow", txn("$slow"))).status, 200);
    assert.deepEqual(signs, ["error", "resent", "slow"]);
  });

  it("says nothing of a bad token (anyone can send one)", async function () {
    const before = signs.length;
    assert.equal((await putTransaction(appservice.port!, "wrong", "s-x", txn("$x"))).status, 403);
    assert.equal(signs.length, before);
  });
});
