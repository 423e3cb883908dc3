// Catch-up: events the homeserver has but never delivered in a transaction.
//
// Synapse keeps the appservice events it has not sent yet in memory and drops
// them when it stops, its stream position already past them
// (element-hq/synapse#11637); a bridge that was down meanwhile cannot tell
// either. So when the homeserver is back after an outage, after it restarted,
// and when the bridge starts, each portal room's history is read from the
// room's safe mark (catchup_marks, see migrations/004-catchup.ts) to now, as
// the portal's ghost, and every event the bridge has not bridged goes to the
// same handler as the appservice's transactions. That handler is exactly-once on its own
// (message_map, People message ids derived from event ids), so an event that
// arrives both ways is still bridged once.
//
// Bounded: per room at most `maxPages` pages of `pageSize` events per run, and
// nothing older than `maxAgeMs`; what is left over is logged and counted. A
// room with no mark, or whose mark the homeserver no longer shows, is read
// backward from the newest event down to its mark's time. Only message events
// are fed (state, such as membership, is not replayed), and only those of
// users other than the appservice's own. The log has counts, never content.
//
// Also after a push the homeserver counts as failed (pushFailed): Synapse then
// marks the appservice down and its recoverer pushes what it queued meanwhile,
// but a transaction it creates while the recoverer makes its last check and
// sets the state back to up stays in its table, unpushed, until some later
// push fails (synapse/appservice/scheduler.py, `_Recoverer.retry` and
// `_TransactionController.send`). Runs follow such a push, one soon and one
// after Synapse's longest back-off (512 s) and push timeout (60 s), and no mark
// becomes safe in between: the run finds what such a transaction held.
import type { Logger } from "../../logger.js";
import type { RoomEvent } from "../../core/ports/matrix-side.js";
import type { BridgeMetrics } from "../../metrics.js";
import type { CatchUpMark, CatchUpStore } from "../../core/ports/store.js";
import { type HistoryEvent, type RoomHistory } from "./room-history.js";
import { BridgeError, isBridgeError, isRetryLater } from "../../core/error-kinds.js";
import { forEachLimit } from "../../concurrency.js";

export interface CatchUpLimits {
  /** Events per /messages page (default 100). */
  pageSize: number;
  /** Pages per room and run (default 20). */
  maxPages: number;
  /** Events older than this are not bridged any more (default 7 days). */
  maxAgeMs: number;
  /** After a room asked to be tried again, or could not be read, the next run (default 30 s). */
  retryMs: number;
  /** After a failed push: a run this long after the first of a burst (default 60 s)... */
  afterFailedPushMs: number;
  /** ...and one this long after the last (default 10 min: Synapse's longest back-off and push timeout). */
  lastAfterFailedPushMs: number;
}

export const DEFAULT_CATCH_UP_LIMITS: CatchUpLimits = {
  pageSize: 100,
  maxPages: 20,
  maxAgeMs: 7 * 86_400_000,
  retryMs: 30_000,
  afterFailedPushMs: 60_000,
  lastAfterFailedPushMs: 600_000,
};

export interface CatchUpOptions {
  marks: CatchUpStore;
  history: RoomHistory;
  /** The user to read the room as (its portal's ghost), or undefined when the room is not a portal. */
  readerOf(roomId: string): Promise<string | undefined>;
  /** True when the event was bridged already (message_map). */
  bridged(eventId: string): Promise<boolean>;
  /** The appservice's own users (bot and ghosts): their events are the bridge's own. */
  isOwnUser(userId: string): boolean;
  /** The handler of the appservice transactions' room events. */
  handle(event: RoomEvent): Promise<void>;
  log: Logger;
  metrics: BridgeMetrics;
  limits?: Partial<CatchUpLimits>;
  /** Rooms read at once (bridge.startup_concurrency; each room stays in order). */
  concurrency?: number;
  now?: () => number;
}

export interface CatchUpReport {
  rooms: number;
  /** Unbridged events found in history and handed to the handler. */
  caughtUp: number;
  alreadyBridged: number;
  tooOld: number;
  failed: number;
  /** Rooms not finished: more than the page bound, a handler asked to retry, or the homeserver failed. */
  unfinished: number;
  /** Rooms whose history the ghost may not read (403, 404): skipped. */
  unreadable: number;
}

type Outcome = "caught_up" | "already_bridged" | "too_old" | "failed";

/** A room's catch-up waits behind an event kept for later (a `deferred` BridgeError). */
const deferred = (): BridgeError => new BridgeError("deferred", "waits for a kept event");

export class CatchUp {
  private readonly limits: CatchUpLimits;
  private readonly now: () => number;
  private running: Promise<void> | undefined;
  private pending: string | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Rooms a run left unfinished: no candidate may become safe until a run finishes them. */
  private unfinished = false;
  /** Runs after a failed push, not yet done: no candidate may become safe meanwhile. */
  private afterPush: { soon?: NodeJS.Timeout; last?: NodeJS.Timeout; lastRunning: boolean } | undefined;

  constructor(private readonly o: CatchUpOptions) {
    this.limits = { ...DEFAULT_CATCH_UP_LIMITS, ...o.limits };
    this.now = o.now ?? Date.now;
  }

  /** Asks for a run in the background; requests during a run make one more run after it. */
  request(reason: string): void {
    if (this.stopped) return;
    this.pending = reason;
    this.running ??= this.drain().finally(() => (this.running = undefined));
  }

  /** Resolves once no run is going on or asked for. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * The homeserver was found up, as at the previous check, not restarted: the
   * last seen events become candidates and the previous candidates safe.
   * Nothing moves while a run is going on or has rooms left to finish.
   */
  async checkpoint(): Promise<void> {
    if (this.running || this.unfinished || this.afterPush || this.stopped) return;
    await this.o.marks.promote();
  }

  /** After an applied transaction: each room's last event in it is seen. */
  async seen(events: readonly Record<string, unknown>[]): Promise<void> {
    const last = new Map<string, { eventId: string; ts: number }>();
    for (const e of events) {
      if (typeof e.room_id !== "string" || typeof e.event_id !== "string") continue;
      const ts = typeof e.origin_server_ts === "number" ? e.origin_server_ts : this.now();
      last.set(e.room_id, { eventId: e.event_id, ts });
    }
    for (const [roomId, { eventId, ts }] of last) await this.o.marks.seen(roomId, eventId, ts);
  }

  /**
   * The homeserver may have counted a push as failed (the bridge answered it with an error or
   * late, or it came again): runs are asked for as the file's head says. Repeated signs within
   * `afterFailedPushMs` share the soon run; each one moves the last run later.
   */
  pushFailed(why: string): void {
    if (this.stopped) return;
    const w = (this.afterPush ??= { lastRunning: false });
    // Said once a burst (a loaded homeserver may time out every push), not once a sign.
    if (!w.soon)
      this.o.log.info({ why }, "the homeserver may have failed a push; the portal rooms will be caught up");
    w.soon ??= this.timer(this.limits.afterFailedPushMs, () => {
      w.soon = undefined;
      this.request("failed_push");
    });
    clearTimeout(w.last);
    w.lastRunning = false;
    w.last = this.timer(this.limits.lastAfterFailedPushMs, () => {
      w.last = undefined;
      w.lastRunning = true;
      this.request("failed_push");
    });
  }

  /** The appservice's hooks (TransactionalAppService): each transaction's events, and failed pushes. */
  hooks(): {
    afterEvents(events: readonly Record<string, unknown>[]): Promise<void>;
    onPushFailed(why: string): void;
  } {
    return { afterEvents: (events) => this.seen(events), onPushFailed: (why) => this.pushFailed(why) };
  }

  private timer(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.afterPush?.soon);
    clearTimeout(this.afterPush?.last);
    await this.running;
  }

  private async drain(): Promise<void> {
    while (this.pending !== undefined && !this.stopped) {
      const reason = this.pending;
      this.pending = undefined;
      // A run asked for by the last timer after a failed push: once it finished, marks may move again.
      const closes = this.afterPush?.lastRunning === true && !this.afterPush.soon;
      try {
        this.unfinished = (await this.run(reason)).unfinished > 0;
        if (closes && this.afterPush?.lastRunning && !this.afterPush.last) this.afterPush = undefined;
      } catch (err) {
        this.unfinished = true;
        this.o.log.warn({ err, reason }, "catching up the portal rooms failed");
      }
      if (this.unfinished && !this.stopped && this.pending === undefined) {
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.request("retry"), this.limits.retryMs);
        this.retryTimer.unref();
      }
    }
  }

  /** One pass over every room with a mark. */
  async run(reason: string): Promise<CatchUpReport> {
    const report: CatchUpReport = {
      rooms: 0,
      caughtUp: 0,
      alreadyBridged: 0,
      tooOld: 0,
      failed: 0,
      unfinished: 0,
      unreadable: 0,
    };
    const started = this.now();
    this.o.metrics.catchUpRuns.inc({ reason });
    // Candidates taken before this run may already be past events it has yet to read.
    await this.o.marks.forgetCandidates();
    const one = async (mark: CatchUpMark): Promise<void> => {
      const reader = await this.o.readerOf(mark.roomId);
      if (!reader) return;
      report.rooms++;
      try {
        if (!(await this.room(mark, reader, report))) report.unfinished++;
      } catch (err) {
        if (isBridgeError(err, "deferred")) {
          report.unfinished++;
          return;
        }
        // Not readable as the ghost (it left, or the room is gone): trying again would not help.
        if (isBridgeError(err, "history") && (err.status === 403 || err.status === 404)) {
          report.unreadable++;
          this.o.log.info(
            { room: mark.roomId, status: err.status },
            "a portal room's history is not readable as its ghost; skipped",
          );
          return;
        }
        report.unfinished++;
        this.o.log.warn(
          { room: mark.roomId, detail: isBridgeError(err, "history") ? err.message : undefined, err },
          "could not read a portal room's history; trying again later",
        );
      }
    };
    // A few rooms at a time; the live transactions go on meanwhile.
    await forEachLimit(await this.o.marks.list(), this.o.concurrency ?? 1, one, () => this.stopped);
    const found = report.caughtUp + report.alreadyBridged + report.tooOld + report.failed;
    // Runs are rare (start, outages): always worth a line.
    this.o.log.info(
      { reason, ...report, ms: this.now() - started },
      `caught up ${report.caughtUp} of ${found} events in ${report.rooms} portal rooms`,
    );
    return report;
  }

  /** Catches up one room; false when it is not finished (forward reading reached the page bound). */
  private async room(mark: CatchUpMark, reader: string, report: CatchUpReport): Promise<boolean> {
    const token = mark.eventId
      ? await this.o.history.tokenAfter(mark.roomId, mark.eventId, reader)
      : undefined;
    if (token !== undefined) return this.forward(mark, reader, token, report);
    return this.backward(mark, reader, report);
  }

  /** From just after the mark to the newest event, oldest first, page by page. */
  private async forward(
    mark: CatchUpMark,
    reader: string,
    from: string,
    report: CatchUpReport,
  ): Promise<boolean> {
    let token = from;
    for (let pages = 0; pages < this.limits.maxPages; pages++) {
      const page = await this.o.history.page(mark.roomId, {
        asUser: reader,
        dir: "f",
        from: token,
        limit: this.limits.pageSize,
      });
      await this.feed(mark.roomId, page.events, report);
      if (page.events.length === 0 || page.end === undefined) return true;
      token = page.end;
    }
    this.o.log.info(
      { room: mark.roomId, pages: this.limits.maxPages },
      "catch-up of a room stopped at its page bound",
    );
    return false;
  }

  /** From the newest event back to the mark (by id or time), then fed oldest first. */
  private async backward(mark: CatchUpMark, reader: string, report: CatchUpReport): Promise<boolean> {
    const floor = Math.max(mark.eventTs, this.now() - this.limits.maxAgeMs);
    const found: HistoryEvent[] = [];
    let token: string | undefined;
    let complete = false;
    for (let pages = 0; pages < this.limits.maxPages && !complete; pages++) {
      const page = await this.o.history.page(mark.roomId, {
        asUser: reader,
        dir: "b",
        limit: this.limits.pageSize,
        ...(token !== undefined ? { from: token } : {}),
      });
      for (const event of page.events) {
        if (event.eventId === mark.eventId || event.originServerTs < floor) {
          complete = true;
          break;
        }
        found.push(event);
      }
      if (page.events.length === 0 || page.end === undefined) complete = true;
      token = page.end;
    }
    await this.feed(mark.roomId, found.reverse(), report);
    // The mark is now past anything older: another run would not find it either.
    if (!complete)
      this.o.log.warn(
        { room: mark.roomId, pages: this.limits.maxPages },
        "catch-up of a room without a usable mark reached its page bound; older events are not caught up",
      );
    return true;
  }

  /** Hands each unbridged event to the handler in order, moving the room's mark along. */
  private async feed(roomId: string, events: HistoryEvent[], report: CatchUpReport): Promise<void> {
    let last: HistoryEvent | undefined;
    try {
      for (const event of events) {
        if (this.stopped) return;
        const outcome = await this.one(event);
        if (outcome) {
          this.o.metrics.catchUpEvents.inc({ outcome });
          if (outcome === "caught_up") report.caughtUp++;
          else if (outcome === "already_bridged") report.alreadyBridged++;
          else if (outcome === "too_old") report.tooOld++;
          else report.failed++;
        }
        last = event;
      }
    } finally {
      if (last) await this.o.marks.caughtUp(roomId, last.eventId, last.originServerTs);
    }
  }

  private async one(event: HistoryEvent): Promise<Outcome | undefined> {
    if (event.stateKey !== undefined || this.o.isOwnUser(event.sender)) return undefined;
    if (event.originServerTs < this.now() - this.limits.maxAgeMs) return "too_old";
    if (await this.o.bridged(event.eventId)) return "already_bridged";
    try {
      await this.o.handle(event);
      return "caught_up";
    } catch (err) {
      if (isRetryLater(err)) {
        this.o.log.info(
          { room: event.roomId, eventId: event.eventId },
          "a caught-up event must be tried again later",
        );
        throw deferred();
      }
      this.o.log.error(
        { err, room: event.roomId, eventId: event.eventId, type: event.type },
        "handling a caught-up event failed",
      );
      return "failed";
    }
  }
}
