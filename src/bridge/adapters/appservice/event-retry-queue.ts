// The Matrix → People retry queue. A room event whose handler throws
// RetryLater (its media's server answered 502, the People network is down) is
// written here, durably, and its appservice transaction is acknowledged: the
// homeserver sends the bridge one queue for all users, and failing the whole
// transaction would hold up everyone's messages behind one event. The event
// is then tried again alone, with backoff, until its handler settles it
// (bridged, or answered with a notice once its RetryWindow is over; the
// window is seeded with the event's first failure, so a restart does not
// extend it). Rows survive a crash: at start every kept event is tried again.
//
// Order: an event that points at a waiting one (an edit, a reaction, a
// redaction, a reply) is kept behind it instead of being handled first, and
// is tried once that one is settled. One attempt at a time per room, the
// earliest kept first; rooms are independent, and events that point at
// nothing waiting are never held up.
import { isRetryLater } from "../../core/error-kinds.js";
import type { Logger } from "../../logger.js";
import type { BridgeMetrics } from "../../metrics.js";
import type { EventRetry, EventRetryStore } from "../../core/ports/store.js";

type Json = Record<string, unknown>;

export interface RetryBackoff {
  /** The first retry comes after this (default 1 s); each next one after twice as long… */
  baseMs: number;
  /** …at most this (default 30 s). */
  maxMs: number;
}

export interface EventRetryQueueOptions {
  store: EventRetryStore;
  log: Logger;
  metrics: BridgeMetrics;
  /** The handlers' retry window, told when each kept event first failed before it is tried again. */
  window?: { seed(key: string, since: number): void };
  backoff?: Partial<RetryBackoff>;
  /**
   * An event still failing this long after its first failure is dropped (logged, counted
   * gave_up). Handlers settle theirs earlier, with a notice; this bounds any other.
   */
  maxAgeMs?: number;
  now?: () => number;
}

export const DEFAULT_BACKOFF: RetryBackoff = { baseMs: 1_000, maxMs: 30_000 };
export const DEFAULT_MAX_AGE_MS = 20 * 60_000;
/** Attempts under way at once, across rooms. */
const MAX_CONCURRENT_ATTEMPTS = 16;

/** The delay before attempt number `attempts + 1` (attempts made so far, the first failure included). */
export function backoffDelay(attempts: number, b: RetryBackoff): number {
  return Math.min(b.maxMs, b.baseMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
}

function object(v: unknown): Json | undefined {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Json) : undefined;
}

/** Every event id a raw room event points at: relation target, reply target, redacted event. */
export function referencedEventIds(event: Json): string[] {
  const content = object(event.content);
  const rel = object(content?.["m.relates_to"]);
  const ids: unknown[] = [
    event.redacts,
    content?.redacts,
    rel?.event_id,
    object(rel?.["m.in_reply_to"])?.event_id,
  ];
  return ids.filter((id): id is string => typeof id === "string");
}

export class EventRetryQueue {
  private readonly entries = new Map<string, EventRetry>();
  private readonly busyRooms = new Set<string>();
  private readonly attempts = new Set<Promise<void>>();
  private readonly backoff: RetryBackoff;
  private readonly now: () => number;
  private handler: ((event: Json) => Promise<void>) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: EventRetryQueueOptions) {
    this.backoff = { ...DEFAULT_BACKOFF, ...o.backoff };
    this.now = o.now ?? Date.now;
  }

  /** Loads the kept events and starts trying them with `handle` (which throws RetryLater to keep one). */
  async start(handle: (event: Json) => Promise<void>): Promise<void> {
    this.handler = handle;
    this.stopped = false;
    for (const r of await this.o.store.list()) this.entries.set(r.eventId, r);
    if (this.entries.size > 0)
      this.o.log.info({ events: this.entries.size }, "Matrix events kept for another try are tried again");
    this.wake();
  }

  /** Stops trying; waits for the attempts under way. Kept events stay in the store. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.attempts]);
  }

  get depth(): number {
    return this.entries.size;
  }

  has(eventId: string): boolean {
    return this.entries.has(eventId);
  }

  /** The kept event that `event` points at, if any: it must wait behind it. */
  blockerOf(event: Json): string | undefined {
    if (this.entries.size === 0) return undefined;
    return referencedEventIds(event).find((id) => this.entries.has(id));
  }

  /**
   * Keeps `event` to be tried again (durable when the promise resolves; a failure here
   * must fail the transaction). With `waitsFor`, it is tried once that event is settled.
   */
  async defer(event: Json, o: { waitsFor?: string } = {}): Promise<void> {
    const eventId = event.event_id;
    const roomId = event.room_id;
    if (typeof eventId !== "string" || typeof roomId !== "string") throw new Error("not a room event");
    if (this.entries.has(eventId)) return;
    const now = this.now();
    const retry: EventRetry = {
      eventId,
      roomId,
      eventJson: JSON.stringify(event),
      waitsFor: o.waitsFor ?? null,
      firstFailedAt: now,
      attempts: o.waitsFor ? 0 : 1,
      nextAttemptAt: o.waitsFor ? now : now + backoffDelay(1, this.backoff),
    };
    await this.o.store.put(retry);
    this.entries.set(eventId, retry);
    this.o.metrics.eventRetryQueue.inc({ outcome: o.waitsFor ? "waiting" : "deferred" });
    this.o.log.info(
      { eventId, room: roomId, ...(o.waitsFor ? { waitsFor: o.waitsFor } : {}) },
      o.waitsFor
        ? "a Matrix event waits behind the event it points at"
        : "a Matrix event failed for now; it is tried again alone while the others go on",
    );
    this.wake();
  }

  /** Starts every attempt that is due, and sets the timer for the next one. */
  private wake(): void {
    if (this.stopped || !this.handler) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.now();
    let next = Infinity;
    for (const r of this.entries.values()) {
      if (this.attempts.size >= MAX_CONCURRENT_ATTEMPTS) break; // woken again as each one ends
      // One attempt at a time per room, the earliest kept first.
      if (this.busyRooms.has(r.roomId)) continue;
      if (r.waitsFor !== null && this.entries.has(r.waitsFor)) continue;
      if (r.nextAttemptAt > now) {
        next = Math.min(next, r.nextAttemptAt);
        continue;
      }
      this.run(r);
    }
    if (next !== Infinity) {
      this.timer = setTimeout(() => this.wake(), Math.max(0, next - now));
      this.timer.unref();
    }
  }

  private run(r: EventRetry): void {
    this.busyRooms.add(r.roomId);
    const attempt = this.attempt(r).finally(() => {
      this.attempts.delete(attempt);
      this.busyRooms.delete(r.roomId);
      this.wake();
    });
    this.attempts.add(attempt);
  }

  private async attempt(r: EventRetry): Promise<void> {
    const log = { eventId: r.eventId, room: r.roomId, attempts: r.attempts };
    let outcome: "handled" | "gave_up" = "handled";
    try {
      this.o.window?.seed(r.eventId, r.firstFailedAt);
      await this.handler!(JSON.parse(r.eventJson) as Json);
    } catch (err) {
      if (isRetryLater(err) && this.now() - r.firstFailedAt < (this.o.maxAgeMs ?? DEFAULT_MAX_AGE_MS)) {
        return this.later(r, r.attempts + 1);
      }
      if (isRetryLater(err)) {
        outcome = "gave_up";
        this.o.log.error({ ...log, err }, "a Matrix event kept failing; dropped from the retry queue");
      } else {
        this.o.metrics.eventErrors.inc();
        this.o.log.error({ ...log, err }, "handling a Matrix event failed");
      }
    }
    try {
      await this.o.store.remove(r.eventId);
    } catch (err) {
      // Settled, but still in the store: tried again later (handlers skip what they already did).
      this.o.log.warn({ ...log, err }, "could not remove a settled event from the retry queue");
      return this.later(r, r.attempts);
    }
    this.entries.delete(r.eventId);
    this.o.metrics.eventRetryQueue.inc({ outcome });
    this.o.log.info(log, "a Matrix event from the retry queue is settled");
  }

  private async later(r: EventRetry, attempts: number): Promise<void> {
    const next = this.now() + backoffDelay(attempts, this.backoff);
    r.attempts = attempts;
    r.nextAttemptAt = next;
    this.o.metrics.eventRetryQueue.inc({ outcome: "retried" });
    await this.o.store
      .reschedule(r.eventId, attempts, next)
      .catch((err: unknown) =>
        this.o.log.warn({ err, eventId: r.eventId }, "could not reschedule a kept event"),
      );
  }
}
