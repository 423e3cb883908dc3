// A transaction's rooms side by side (appservice.room_concurrency), over real
// HTTP on loopback with the real SQLite store and retry queue: one room's
// slow event does not hold up another room's, each room's events (and then
// its receipts) stay in order, and the answer still comes only after every
// room's handling, its deferred writes, the kept events and durable().
import assert from "node:assert/strict";
import { EventRetryQueue } from "../../src/bridge/adapters/appservice/event-retry-queue.js";
import { TransactionWrites } from "../../src/bridge/adapters/appservice/transaction-writes.js";
import { TransactionalAppService } from "../../src/bridge/adapters/appservice/transactional-appservice.js";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import type { BridgeStore } from "../../src/bridge/core/ports/store.js";
import { retryLater } from "../../src/bridge/core/error-kinds.js";
import { putTransaction } from "../helpers/bridge-harness.js";
import { newMetrics, silentLog } from "../helpers/portal-fakes.js";

const TOKEN = "hs-token-for-the-lanes-test";
type Json = Record<string, unknown>;

const message = (room: string, id: string): Json => ({
  type: "m.room.message",
  room_id: room,
  sender: "@a:hs",
  event_id: id,
  content: {},
});
const receipt = (room: string): Json => ({ type: "m.receipt", room_id: room, content: {} });

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("appservice transactions: rooms side by side (real SQLite)", function () {
  this.timeout(120_000);
  let appservice: TransactionalAppService;
  let store: BridgeStore;
  const metrics = newMetrics();
  const writes = new TransactionWrites();
  const log: string[] = [];
  /** Event id → what its handler waits for before returning. */
  const holds = new Map<string, Promise<void>>();
  /** Event id → a write the handler leaves to the transaction (resolved from the test). */
  const deferred = new Map<string, Promise<void>>();
  const failing = new Set<string>();
  let durableCalls = 0;

  before(async function () {
    store = await openBridgeStore({ engine: "sqlite", connection: ":memory:" });
    const retries = new EventRetryQueue({
      store: store.eventRetries,
      log: silentLog,
      metrics: newMetrics(),
      backoff: { baseMs: 60_000, maxMs: 60_000 },
    });
    appservice = new TransactionalAppService({
      homeserverToken: TOKEN,
      transactions: store.transactions,
      log: silentLog,
      metrics,
      retries,
      writes,
      durable: async () => void durableCalls++,
      roomConcurrency: 8,
    });
    appservice.on("event", async (event: Json) => {
      const id = String(event.event_id);
      log.push(`start ${id}`);
      await holds.get(id);
      if (failing.has(id)) throw retryLater("the media's server answered 502");
      const write = deferred.get(id);
      if (write) writes.defer(write);
      log.push(`end ${id}`);
    });
    appservice.on("ephemeral", async (event: Json) => void log.push(`receipt ${String(event.room_id)}`));
    await appservice.listen(0, "127.0.0.1", 16);
  });

  after(async () => {
    await appservice.close();
    await store.close();
  });

  it("handles another room while one room's event is slow, each room in order, and answers after all of it", async function () {
    let releaseA!: () => void;
    holds.set("$a1", new Promise<void>((r) => (releaseA = r)));
    let writeDone!: () => void;
    deferred.set("$b2", new Promise<void>((r) => (writeDone = r)));
    failing.add("$c1");
    let answered = false;
    const answer = putTransaction(appservice.port!, TOKEN, "lanes-1", {
      events: [
        message("!a", "$a1"),
        message("!b", "$b1"),
        message("!a", "$a2"),
        message("!b", "$b2"),
        message("!c", "$c1"),
      ],
      ephemeral: [receipt("!a"), receipt("!b")],
    }).finally(() => (answered = true));
    // Room b is handled, its receipt after its events, while $a1 is still held.
    await until("room b's receipt", () => log.includes("receipt !b"));
    assert.ok(!log.includes("start $a2"), "$a2 waits for $a1");
    assert.ok(!log.includes("receipt !a"), "room a's receipt waits for its events");
    assert.ok(log.indexOf("end $b1") < log.indexOf("start $b2"));
    assert.ok(log.indexOf("end $b2") < log.indexOf("receipt !b"));
    // Room c's event failed for now: kept, durably, beside the others.
    await until("$c1 to be kept", () => log.includes("start $c1"));
    releaseA();
    await until("room a's receipt", () => log.includes("receipt !a"));
    assert.ok(log.indexOf("end $a1") < log.indexOf("start $a2"));
    assert.ok(log.indexOf("end $a2") < log.indexOf("receipt !a"));
    // Everything handled, but $b2's write is still pending: no answer, nothing recorded.
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(answered, false);
    assert.equal(await store.transactions.get("lanes-1"), undefined);
    writeDone();
    const res = await answer;
    assert.equal(res.status, 200);
    assert.ok(await store.transactions.get("lanes-1"));
    assert.ok(durableCalls >= 1);
    assert.deepEqual(
      (await store.eventRetries.list()).map((r) => r.eventId),
      ["$c1"],
    );
    // The histogram saw rooms side by side.
    const rooms = (await metrics.transactionRoomsAtOnce.get()).values;
    const count = rooms.find((v) => v.metricName?.endsWith("_count"))?.value ?? 0;
    const atOne = rooms.find((v) => v.metricName?.endsWith("_bucket") && v.labels.le === 1)?.value ?? 0;
    assert.ok(count - atOne >= 1, "a transaction with rooms side by side was counted");
  });

  it("fails a transaction whose room could not keep its event, after the other rooms' events finished", async function () {
    let releaseD!: () => void;
    holds.set("$d1", new Promise<void>((r) => (releaseD = r)));
    // A handler failure the retry queue cannot take: the event has no id, so the transaction fails.
    failing.add("undefined");
    let answered = false;
    const answer = putTransaction(appservice.port!, TOKEN, "lanes-2", {
      events: [message("!d", "$d1"), { type: "m.room.message", room_id: "!e", sender: "@a:hs", content: {} }],
    }).finally(() => (answered = true));
    await until(
      "$d1 to start and the other room to fail",
      () => log.includes("start $d1") && log.includes("start undefined"),
    );
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(answered, false, "room d's event is still under way");
    releaseD();
    const res = await answer;
    assert.equal(res.status, 500);
    assert.ok(log.indexOf("end $d1") >= 0);
    assert.equal(await store.transactions.get("lanes-2"), undefined);
  });
});
