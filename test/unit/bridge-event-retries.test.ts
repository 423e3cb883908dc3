// Matrix → People failures, without IO: which are final and which may pass
// (to-people-failures.ts, mediaErrorOf), what the user is told, and the retry
// queue's decisions (event-retry-queue.ts) over an in-memory store: kept
// durably before the transaction goes on, tried again alone with backoff,
// dependents behind what they point at, rooms independent, restarts resume
// with the first failure's time, a bound on events that never settle.
import assert from "node:assert/strict";
import {
  EventRetryQueue,
  backoffDelay,
  referencedEventIds,
} from "../../src/bridge/adapters/appservice/event-retry-queue.js";
import { mediaErrorOf, type RoomEvent } from "../../src/bridge/core/ports/matrix-side.js";
import { MatrixToPeopleFlow } from "../../src/bridge/portals/matrix-to-people-flow.js";
import { RetryWindow } from "../../src/bridge/portals/retry-window.js";
import {
  GAVE_UP_TEXT,
  MEDIA_GAVE_UP_TEXT,
  classifyToPeopleFailure,
} from "../../src/bridge/portals/to-people-failures.js";
import { Permissions } from "../../src/bridge/core/permissions.js";
import type { EventRetry, EventRetryStore, Portal } from "../../src/bridge/core/ports/store.js";
import { PeopleError } from "../../src/people/errors.js";
import { FakeGhosts, FakePeople, MemoryMessages, newMetrics, silentLog } from "../helpers/portal-fakes.js";
import {
  BridgeError,
  isBridgeError,
  userError,
  retryLater,
  isRetryLater,
} from "../../src/bridge/core/error-kinds.js";

type Json = Record<string, unknown>;

class MemoryRetries implements EventRetryStore {
  readonly rows = new Map<string, EventRetry>();
  failPuts = false;
  async put(r: EventRetry) {
    if (this.failPuts) throw new Error("database down");
    if (this.rows.has(r.eventId)) return false;
    this.rows.set(r.eventId, { ...r });
    return true;
  }
  async list() {
    return [...this.rows.values()].map((r) => ({ ...r }));
  }
  async reschedule(eventId: string, attempts: number, nextAttemptAt: number) {
    const r = this.rows.get(eventId);
    if (r) Object.assign(r, { attempts, nextAttemptAt });
  }
  async remove(eventId: string) {
    this.rows.delete(eventId);
  }
}

/** Resolves once `check` holds, looking after every turn of the event loop (no fixed sleep). */
async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`never happened: ${what}`);
    await new Promise((r) => setImmediate(r));
  }
}

const counter = async (metrics: ReturnType<typeof newMetrics>, outcome: string) =>
  (await metrics.eventRetryQueue.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;

describe("Matrix → People failures: final or for now", function () {
  it("maps a media download's status: 404/410 gone, other 4xx refused, 5xx/408/429 for now", function () {
    for (const s of [404, 410]) assert.ok(isBridgeError(mediaErrorOf(s), "media_not_found"), String(s));
    for (const s of [400, 401, 403, 413, 451])
      assert.ok(isBridgeError(mediaErrorOf(s), "media_refused"), String(s));
    for (const s of [408, 429, 500, 502, 503, 504])
      assert.ok(isBridgeError(mediaErrorOf(s), "media_unavailable"), String(s));
  });

  it("is final for gone, refused or too large media, a UserError and a People refusal; for now otherwise", function () {
    for (const err of [
      new BridgeError("media_not_found", "x"),
      new BridgeError("media_refused", "x"),
      new BridgeError("media_too_large", "x"),
      userError("no"),
      new PeopleError("PEOPLE_NOT_FOUND", "no such account"),
    ])
      assert.equal(classifyToPeopleFailure(err).kind, "permanent", err.constructor.name);
    for (const err of [
      new BridgeError("media_unavailable", "HTTP 502"),
      retryLater("x", { cause: new BridgeError("media_unavailable", "x") }),
      new PeopleError("PEOPLE_UNAVAILABLE", "down"),
      new Error("database locked"),
    ])
      assert.equal(classifyToPeopleFailure(err).kind, "transient", err.message);
  });

  it("tells the user in plain words, without internals", function () {
    const texts = [
      ...[
        new BridgeError("media_not_found", "HTTP 404"),
        new BridgeError("media_refused", "HTTP 403"),
        new BridgeError("media_too_large", "cap"),
      ].map((e) => {
        const f = classifyToPeopleFailure(e);
        return f.kind === "permanent" ? f.userText : "";
      }),
      MEDIA_GAVE_UP_TEXT,
    ];
    for (const t of texts) {
      assert.match(t, /^The file could not be fetched: /);
      assert.doesNotMatch(t, /HTTP|40\d|50\d|mxc|Error|cap\b/);
    }
    const f = classifyToPeopleFailure(new BridgeError("media_unavailable", "HTTP 502"));
    assert.equal(f.kind === "transient" && f.giveUpText, MEDIA_GAVE_UP_TEXT);
    const g = classifyToPeopleFailure(new PeopleError("PEOPLE_UNAVAILABLE", "down"));
    assert.equal(g.kind === "transient" && g.giveUpText, GAVE_UP_TEXT);
  });

  describe("in the flow", function () {
    const WINDOW = 60_000;
    const portal: Portal = {
      roomId: "!p:hs.test",
      matrixUser: "@alice:hs.test",
      peopleAddress: "joe@other.test",
      createdAt: 0,
    };
    function setup(download: () => Promise<Buffer>) {
      let now = 1_000_000;
      const ghosts = new FakeGhosts();
      ghosts.downloadMedia = download;
      const people = new FakePeople();
      const flow = new MatrixToPeopleFlow({
        ghosts,
        people,
        messages: new MemoryMessages(),
        permissions: new Permissions({ "hs.test": "user" }),
        log: silentLog,
        metrics: newMetrics(),
        retry: new RetryWindow(WINDOW, () => now),
        now: () => now,
      });
      return { ghosts, people, flow, advance: (ms: number) => (now += ms) };
    }
    const image: RoomEvent = {
      type: "m.room.message",
      roomId: "!p:hs.test",
      sender: "@alice:hs.test",
      eventId: "$img",
      content: {
        msgtype: "m.image",
        body: "cat.png",
        url: "mxc://remote.test/abc",
        info: { mimetype: "image/png" },
      },
    };

    it("answers media the homeserver refuses with a notice at once", async function () {
      const s = setup(async () => {
        throw mediaErrorOf(403);
      });
      await s.flow.handle(image, portal);
      assert.match(
        s.ghosts.notices()[0] ?? "",
        /^Not delivered to joe@other\.test: The file could not be fetched: /,
      );
    });

    it("retries media whose server fails (502), then tells the user the file could not be fetched", async function () {
      const s = setup(async () => {
        throw mediaErrorOf(502);
      });
      await assert.rejects(s.flow.handle(image, portal), isRetryLater);
      s.advance(WINDOW - 1);
      await assert.rejects(s.flow.handle(image, portal), isRetryLater);
      assert.deepEqual(s.ghosts.notices(), []);
      s.advance(1);
      await s.flow.handle(image, portal);
      assert.deepEqual(s.ghosts.notices(), [`Not delivered to joe@other.test: ${MEDIA_GAVE_UP_TEXT}`]);
    });
  });
});

describe("the Matrix → People retry queue", function () {
  /** Real time (the queue's timers wait for it), moved on by the tests. */
  let offset = 0;
  const clock = () => Date.now() + offset;
  const queues: EventRetryQueue[] = [];
  afterEach(async () => {
    for (const q of queues.splice(0)) await q.stop();
  });

  function queue(store: MemoryRetries, o: { maxAgeMs?: number; seeds?: [string, number][] } = {}) {
    const metrics = newMetrics();
    const q = new EventRetryQueue({
      store,
      log: silentLog,
      metrics,
      now: clock,
      backoff: { baseMs: 1, maxMs: 4 },
      ...(o.maxAgeMs !== undefined ? { maxAgeMs: o.maxAgeMs } : {}),
      window: { seed: (key, since) => o.seeds?.push([key, since]) },
    });
    queues.push(q);
    return { q, metrics };
  }
  const ev = (id: string, room = "!r1", content: Json = { body: id }): Json => ({
    type: "m.room.message",
    event_id: id,
    room_id: room,
    sender: "@a:hs",
    content,
  });

  it("keeps an event durably before defer resolves, tries it again with backoff, and forgets it once handled", async function () {
    const store = new MemoryRetries();
    const { q, metrics } = queue(store);
    let fails = 2;
    const tried: string[] = [];
    await q.start(async (e) => {
      tried.push(String(e.event_id));
      if (fails-- > 0) throw retryLater("media server 502");
    });
    await q.defer(ev("$a"));
    assert.ok(store.rows.has("$a"), "written before the transaction goes on");
    assert.equal(q.depth, 1);
    await until("$a handled", () => !q.has("$a"));
    assert.deepEqual(tried, ["$a", "$a", "$a"]);
    assert.equal(store.rows.size, 0);
    assert.equal(await counter(metrics, "retried"), 2);
    assert.equal(await counter(metrics, "handled"), 1);
  });

  it("fails the defer when the store cannot write (so the transaction fails and is resent)", async function () {
    const store = new MemoryRetries();
    store.failPuts = true;
    const { q } = queue(store);
    await q.start(async () => undefined);
    await assert.rejects(q.defer(ev("$a")), /database down/);
    assert.equal(q.has("$a"), false);
  });

  it("holds an event that points at a kept one behind it, and leaves other rooms alone", async function () {
    const store = new MemoryRetries();
    const { q } = queue(store);
    let imageWorks = false;
    const handled: string[] = [];
    await q.start(async (e) => {
      if (e.event_id === "$image" && !imageWorks) throw retryLater("502");
      handled.push(String(e.event_id));
    });
    await q.defer(ev("$image"));
    const reaction = ev("$reaction", "!r1", {
      "m.relates_to": { rel_type: "m.annotation", event_id: "$image", key: "👍" },
    });
    assert.equal(q.blockerOf(reaction), "$image");
    assert.equal(q.blockerOf(ev("$unrelated")), undefined);
    await q.defer(reaction, { waitsFor: "$image" });
    await q.defer(ev("$other-room", "!r2"));
    // The other room's event is handled while the image still fails.
    await until("the other room's event", () => handled.includes("$other-room"));
    assert.ok(q.has("$image") && q.has("$reaction"));
    assert.deepEqual(handled, ["$other-room"]);
    imageWorks = true;
    await until("the reaction", () => handled.includes("$reaction"));
    assert.deepEqual(handled, ["$other-room", "$image", "$reaction"]);
    assert.equal(q.depth, 0);
  });

  it("finds what an event points at: relations, replies, redactions", function () {
    assert.deepEqual(referencedEventIds({ type: "m.room.redaction", redacts: "$x", content: {} }), ["$x"]);
    assert.deepEqual(referencedEventIds({ content: { redacts: "$y" } }), ["$y"]);
    assert.deepEqual(
      referencedEventIds({ content: { "m.relates_to": { rel_type: "m.replace", event_id: "$e" } } }),
      ["$e"],
    );
    assert.deepEqual(
      referencedEventIds({ content: { "m.relates_to": { "m.in_reply_to": { event_id: "$r" } } } }),
      ["$r"],
    );
    assert.deepEqual(referencedEventIds({ content: { "m.relates_to": "nonsense" } }), []);
  });

  it("resumes kept events after a restart, with the time of their first failure", async function () {
    const store = new MemoryRetries();
    const first = queue(store);
    await first.q.start(async () => {
      throw retryLater("502");
    });
    await first.q.defer(ev("$a"));
    const failedAt = store.rows.get("$a")!.firstFailedAt;
    await first.q.stop();
    offset += 5_000;
    const seeds: [string, number][] = [];
    const second = queue(store, { seeds });
    const tried: string[] = [];
    await second.q.start(async (e) => {
      tried.push(String(e.event_id));
    });
    await until("$a handled after the restart", () => !second.q.has("$a"));
    assert.deepEqual(tried, ["$a"]);
    assert.deepEqual(seeds, [["$a", failedAt]]);
    assert.equal(store.rows.size, 0);
  });

  it("drops an event still failing past its bound, counted gave_up", async function () {
    const store = new MemoryRetries();
    const { q, metrics } = queue(store, { maxAgeMs: 1_000 });
    let attempts = 0;
    await q.start(async () => {
      attempts++;
      if (attempts === 2) offset += 1_000;
      throw retryLater("still 502");
    });
    await q.defer(ev("$a"));
    await until("$a dropped", () => !q.has("$a"));
    assert.equal(attempts, 2);
    assert.equal(store.rows.size, 0);
    assert.equal(await counter(metrics, "gave_up"), 1);
  });

  it("backs off exponentially up to its ceiling", function () {
    const b = { baseMs: 1_000, maxMs: 30_000 };
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, b)),
      [1000, 2000, 4000, 8000, 16000, 30000, 30000],
    );
  });
});
