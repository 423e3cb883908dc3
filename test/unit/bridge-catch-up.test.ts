// Catch-up's decisions, without IO: which events of a portal's history go to
// the handler (in order, once), where the room's safe mark ends up, what is
// bounded, and when marks may not be promoted. In-memory fakes of the history
// and the marks; the real CatchUp.
import assert from "node:assert/strict";
import { mock } from "node:test";
import { CatchUp, type CatchUpLimits } from "../../src/bridge/adapters/appservice/catch-up.js";
import {
  historyError,
  type HistoryEvent,
  type HistoryPage,
  type RoomHistory,
} from "../../src/bridge/adapters/appservice/room-history.js";
import type { RoomEvent } from "../../src/bridge/core/ports/matrix-side.js";
import type { CatchUpMark, CatchUpStore } from "../../src/bridge/core/ports/store.js";
import { newMetrics, silentLog } from "../helpers/portal-fakes.js";
import { retryLater } from "../../src/bridge/core/error-kinds.js";

const ROOM = "!portal:hs.test";
const ALICE = "@alice:hs.test";
const GHOST = "@_people_joe=40other.test:hs.test";
const NOW = 10_000_000;

function message(n: number, o: Partial<HistoryEvent> = {}): HistoryEvent {
  return {
    type: "m.room.message",
    roomId: ROOM,
    sender: ALICE,
    eventId: `$e${n}`,
    content: { msgtype: "m.text", body: `m${n}` },
    originServerTs: NOW - 1_000 + n,
    ...o,
  };
}

/** A room's timeline; tokens are positions in it ("p<i>": between event i-1 and event i). */
class FakeHistory implements RoomHistory {
  pages = 0;
  constructor(
    public timeline: HistoryEvent[],
    /** What reading answers: the timeline, a network failure, or a refusal with this status. */
    private readonly readable: true | "down" | number = true,
  ) {}

  async tokenAfter(_roomId: string, eventId: string): Promise<string | undefined> {
    const i = this.timeline.findIndex((e) => e.eventId === eventId);
    return i < 0 ? undefined : `p${i + 1}`;
  }

  async page(
    _roomId: string,
    o: { asUser: string; dir: "f" | "b"; from?: string; limit: number },
  ): Promise<HistoryPage> {
    assert.equal(o.asUser, GHOST);
    if (this.readable === "down") throw historyError("cannot reach the homeserver");
    if (this.readable !== true) throw historyError(`HTTP ${this.readable}`, this.readable);
    this.pages++;
    const at = o.from === undefined ? this.timeline.length : Number(o.from.slice(1));
    if (o.dir === "f") {
      const events = this.timeline.slice(at, at + o.limit);
      return events.length ? { events, end: `p${at + events.length}` } : { events };
    }
    const start = Math.max(0, at - o.limit);
    const events = this.timeline.slice(start, at).reverse();
    return events.length ? { events, end: `p${start}` } : { events };
  }
}

class MemoryMarks implements CatchUpStore {
  marks = new Map<string, CatchUpMark>();
  promoted = 0;
  forgotten = 0;
  async seen(): Promise<void> {}
  async caughtUp(roomId: string, eventId: string, eventTs: number): Promise<void> {
    this.marks.set(roomId, { roomId, eventId, eventTs });
  }
  async promote(): Promise<void> {
    this.promoted++;
  }
  async forgetCandidates(): Promise<void> {
    this.forgotten++;
  }
  async list(): Promise<CatchUpMark[]> {
    return [...this.marks.values()];
  }
}

function setup(o: {
  timeline: HistoryEvent[];
  mark: CatchUpMark;
  bridged?: string[];
  fail?: (e: RoomEvent) => void;
  limits?: Partial<CatchUpLimits>;
  readable?: true | "down" | number;
}) {
  const history = new FakeHistory(o.timeline, o.readable);
  const marks = new MemoryMarks();
  marks.marks.set(o.mark.roomId, o.mark);
  marks.marks.set("!other:hs.test", { roomId: "!other:hs.test", eventId: null, eventTs: 0 });
  const handled: string[] = [];
  const bridged = new Set(o.bridged);
  const metrics = newMetrics();
  const catchUp = new CatchUp({
    marks,
    history,
    readerOf: async (roomId) => (roomId === ROOM ? GHOST : undefined),
    bridged: async (id) => bridged.has(id),
    isOwnUser: (id) => id === GHOST,
    handle: async (event) => {
      o.fail?.(event);
      handled.push(event.eventId);
      bridged.add(event.eventId);
    },
    log: silentLog,
    metrics,
    limits: { pageSize: 3, retryMs: 3_600_000, ...o.limits },
    now: () => NOW,
  });
  return { catchUp, history, marks, handled, metrics };
}

describe("bridge catch-up after a homeserver outage", function () {
  it("hands every unbridged event after the safe mark to the handler, in order, and moves the mark", async function () {
    const timeline = [
      message(1),
      message(2),
      message(3, { type: "m.room.member", stateKey: ALICE }),
      message(4, { sender: GHOST }),
      message(5),
      message(6),
      message(7),
    ];
    const { catchUp, handled, marks, metrics } = setup({
      timeline,
      mark: { roomId: ROOM, eventId: "$e1", eventTs: 0 },
      bridged: ["$e5"],
    });
    const report = await catchUp.run("reconnected");
    // State and the ghost's own events are not replayed; $e5 was bridged already.
    assert.deepEqual(handled, ["$e2", "$e6", "$e7"]);
    assert.deepEqual(report, {
      rooms: 1,
      caughtUp: 3,
      alreadyBridged: 1,
      tooOld: 0,
      failed: 0,
      unfinished: 0,
      unreadable: 0,
    });
    assert.deepEqual(marks.marks.get(ROOM), { roomId: ROOM, eventId: "$e7", eventTs: NOW - 993 });
    assert.equal(marks.forgotten, 1);
    const counted = (await metrics.catchUpEvents.get()).values;
    assert.equal(counted.find((v) => v.labels.outcome === "caught_up")?.value, 3);
    // Nothing new: a second run finds nothing to do.
    assert.equal((await catchUp.run("restarted")).caughtUp, 0);
    assert.deepEqual(handled, ["$e2", "$e6", "$e7"]);
  });

  it("without a usable mark, reads back to the mark's time and feeds oldest first", async function () {
    const timeline = [message(1), message(2), message(3), message(4), message(5)];
    const { catchUp, handled } = setup({
      timeline,
      // The mark's event is unknown to the homeserver (purged): its time bounds the reading.
      mark: { roomId: ROOM, eventId: "$gone", eventTs: NOW - 1_000 + 2 },
    });
    await catchUp.run("start");
    assert.deepEqual(handled, ["$e2", "$e3", "$e4", "$e5"]);
  });

  it("does not bridge events older than the age bound, and counts them", async function () {
    const timeline = [message(1), message(2, { originServerTs: NOW - 7_200_000 }), message(3)];
    const { catchUp, handled } = setup({
      timeline,
      mark: { roomId: ROOM, eventId: "$e1", eventTs: 0 },
      limits: { maxAgeMs: 3_600_000 },
    });
    const report = await catchUp.run("start");
    assert.deepEqual(handled, ["$e3"]);
    assert.equal(report.tooOld, 1);
  });

  it("stops a room at its page bound and goes on from there on the next run", async function () {
    const timeline = Array.from({ length: 10 }, (_, i) => message(i + 1));
    const { catchUp, handled, history } = setup({
      timeline,
      mark: { roomId: ROOM, eventId: "$e1", eventTs: 0 },
      limits: { maxPages: 2 },
    });
    const first = await catchUp.run("start");
    assert.equal(first.unfinished, 1);
    assert.deepEqual(handled, ["$e2", "$e3", "$e4", "$e5", "$e6", "$e7"]);
    assert.equal(history.pages, 2);
    const second = await catchUp.run("retry");
    assert.equal(second.unfinished, 0);
    assert.deepEqual(handled.slice(6), ["$e8", "$e9", "$e10"]);
  });

  it("leaves the mark before an event whose handler asks to retry, and promotes no mark until finished", async function () {
    const timeline = [message(1), message(2), message(3), message(4)];
    let failing = true;
    const { catchUp, handled, marks } = setup({
      timeline,
      mark: { roomId: ROOM, eventId: "$e1", eventTs: 0 },
      fail: (e) => {
        if (failing && e.eventId === "$e3") throw retryLater("People is down");
      },
    });
    catchUp.request("reconnected");
    await catchUp.idle();
    assert.deepEqual(handled, ["$e2"]);
    assert.equal(marks.marks.get(ROOM)?.eventId, "$e2");
    await catchUp.checkpoint();
    assert.equal(marks.promoted, 0, "a candidate taken after the outage could skip $e3");
    failing = false;
    catchUp.request("retry");
    await catchUp.idle();
    assert.deepEqual(handled, ["$e2", "$e3", "$e4"]);
    await catchUp.checkpoint();
    assert.equal(marks.promoted, 1);
    await catchUp.stop();
  });

  it("goes on after a handler's other failure (logged and counted), as the transaction path does", async function () {
    const timeline = [message(1), message(2), message(3)];
    const { catchUp, handled, marks } = setup({
      timeline,
      mark: { roomId: ROOM, eventId: "$e1", eventTs: 0 },
      fail: (e) => {
        if (e.eventId === "$e2") throw new Error("poison");
      },
    });
    const report = await catchUp.run("start");
    assert.deepEqual(handled, ["$e3"]);
    assert.equal(report.failed, 1);
    assert.equal(marks.marks.get(ROOM)?.eventId, "$e3");
  });

  it("reports a room whose history cannot be read as unfinished, its mark unchanged", async function () {
    const mark = { roomId: ROOM, eventId: null, eventTs: 0 };
    const { catchUp, marks } = setup({ timeline: [message(1)], mark, readable: "down" });
    const report = await catchUp.run("start");
    assert.equal(report.unfinished, 1);
    assert.deepEqual(marks.marks.get(ROOM), mark);
  });

  it("skips a room its ghost may not read (it left), without holding back later promotions", async function () {
    const mark = { roomId: ROOM, eventId: null, eventTs: 0 };
    const { catchUp, marks } = setup({ timeline: [message(1)], mark, readable: 403 });
    catchUp.request("start");
    await catchUp.idle();
    await catchUp.checkpoint();
    assert.equal(marks.promoted, 1);
    assert.deepEqual(marks.marks.get(ROOM), mark);
    assert.equal((await catchUp.run("retry")).unreadable, 1);
  });
});

// Synapse leaves a transaction it created while the recoverer made its last check unpushed, the
// appservice "up" again (catch-up.ts): its events are in the room, never in a transaction. A fake clock.
describe("bridge catch-up after a push the homeserver may have failed", function () {
  beforeEach(() => mock.timers.enable({ apis: ["setTimeout"] }));
  afterEach(() => mock.timers.reset());

  /** Moves the fake clock and waits for the run it started, if any. */
  async function tick(catchUp: CatchUp, ms: number): Promise<void> {
    mock.timers.tick(ms);
    await catchUp.idle();
  }

  it("reads the rooms soon and after the longest back-off, and promotes no mark until then", async function () {
    // $e2 was in the stuck transaction; $e3 is one created after the first run, left behind the same way.
    const timeline = [message(1), message(2)];
    const { catchUp, handled, marks } = setup({
      timeline,
      mark: { roomId: ROOM, eventId: "$e1", eventTs: 0 },
    });
    catchUp.pushFailed("resent");
    await catchUp.checkpoint();
    await tick(catchUp, 59_999);
    assert.deepEqual(handled, [], "nothing before the soon run");
    await tick(catchUp, 1);
    assert.deepEqual(handled, ["$e2"]);
    assert.equal(marks.marks.get(ROOM)?.eventId, "$e2");
    timeline.push(message(3));
    await catchUp.checkpoint();
    assert.equal(marks.promoted, 0, "a mark made safe now could pass an event still unpushed");
    await tick(catchUp, 540_000);
    assert.deepEqual(handled, ["$e2", "$e3"]);
    await catchUp.checkpoint();
    assert.equal(marks.promoted, 1, "after the last run, marks move again");
    await catchUp.stop();
  });

  it("shares the soon run among signs close together, and each sign moves the last run later", async function () {
    const { catchUp, marks, metrics } = setup({
      timeline: [message(1)],
      mark: { roomId: ROOM, eventId: "$e1", eventTs: 0 },
    });
    const runs = async () =>
      (await metrics.registry.getSingleMetric("bridge_catchup_runs_total")!.get()).values.find(
        (v) => v.labels.reason === "failed_push",
      )?.value ?? 0;
    catchUp.pushFailed("slow");
    await tick(catchUp, 30_000);
    catchUp.pushFailed("error");
    await tick(catchUp, 30_000);
    assert.equal(await runs(), 1, "one soon run for both signs");
    await tick(catchUp, 560_000); // 620 s after the first sign, 590 after the second
    assert.equal(await runs(), 1);
    await catchUp.checkpoint();
    assert.equal(marks.promoted, 0);
    await tick(catchUp, 10_000);
    assert.equal(await runs(), 2, "the last run, 600 s after the second sign");
    await catchUp.checkpoint();
    assert.equal(marks.promoted, 1);
    await catchUp.stop();
  });

  it("hands the transaction's hooks to the appservice: seen events, and failed pushes", async function () {
    const { catchUp, handled } = setup({
      timeline: [message(1), message(2)],
      mark: { roomId: ROOM, eventId: "$e1", eventTs: 0 },
    });
    const hooks = catchUp.hooks();
    hooks.onPushFailed("error");
    await tick(catchUp, 60_000);
    assert.deepEqual(handled, ["$e2"]);
    await catchUp.stop();
  });
});
