// Handing stored messages to the listeners (issue 16): fairly, and without
// one failing message holding up the rest.
//
// - Fair: messages are queued per conversation (for a direct message: per
//   sender) and conversations are served round-robin (fair-queue.ts), so a
//   flood in one delays another's message by at most one message per
//   conversation with mail queued. Up to `concurrency` conversations are
//   handled at once (default 1), each in its own order.
// - Set aside: a message whose listeners fail is kept aside and tried again on
//   its own, with exponential backoff and jitter, while later messages go on.
//   It stays `undelivered` in the local store meanwhile (it was stored before it
//   came here), so a restart delivers it again (Receiver.redeliverPending): the
//   envelope may be acknowledged to the server as soon as it is delivered or
//   set aside. The listeners decide when to give up (by resolving).
import type { ClientEvents } from "./events.js";
import { FairQueue } from "./fair-queue.js";
import type { InboxEntry } from "./local-store.js";

export interface DeliveryRetryOptions {
  /** First retry of a set-aside message after about this long (default 1 s), doubling… */
  baseMs?: number;
  /** … up to this (default 60 s). */
  maxMs?: number;
  /** Conversations handed to the listeners at once (default 1), each one message at a time. */
  concurrency?: number;
}

/** The conversation a message belongs to: its participants, in one order. */
export function conversationKey(entry: Pick<InboxEntry, "from" | "to">): string {
  return [...new Set([entry.from, ...entry.to])].sort().join("\n");
}

/** Set-aside messages kept in memory at most; past this they wait for the next start. */
const MAX_SET_ASIDE = 10_000;

interface Aside {
  attempts: number;
  timer?: NodeJS.Timeout;
}

export class DeliveryQueue {
  private readonly queue: FairQueue;
  private readonly aside = new Map<number, Aside>();
  /** Queued or being handled, by seq: the same message queued again joins the first. */
  private readonly queued = new Map<number, Promise<void>>();
  private stopped = false;

  constructor(
    private readonly o: {
      /** Runs the listeners and marks the entry delivered; throws when it could not. */
      run: (entry: InboxEntry) => Promise<void>;
      events: ClientEvents;
      retry?: DeliveryRetryOptions;
    },
  ) {
    this.queue = new FairQueue(o.retry?.concurrency ?? 1);
  }

  /** Messages queued or being handled now (not the set-aside ones waiting for their retry). */
  get pending(): number {
    return this.queue.pending;
  }

  /** Messages set aside, waiting to be tried again. */
  get setAside(): number {
    return this.aside.size;
  }

  /** Resolves once the entry was delivered or set aside (never rejects). */
  deliver(entry: InboxEntry): Promise<void> {
    // Already set aside (the server sent the envelope again): its own retry takes care of it.
    if (this.aside.has(entry.seq)) return Promise.resolve();
    return this.enqueue(entry);
  }

  private enqueue(entry: InboxEntry): Promise<void> {
    const known = this.queued.get(entry.seq);
    if (known) return known;
    const done = this.queue
      .push(conversationKey(entry), () => this.attempt(entry))
      .finally(() => this.queued.delete(entry.seq));
    this.queued.set(entry.seq, done);
    return done;
  }

  /** Resolves once nothing is queued or being handled (set-aside messages may still wait for their retry). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  start(): void {
    this.stopped = false;
  }

  /** Stops retrying (what is set aside stays undelivered in the store) and waits for the message being handled. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const a of this.aside.values()) clearTimeout(a.timer);
    this.aside.clear();
    await this.queue.idle();
  }

  private async attempt(entry: InboxEntry): Promise<void> {
    if (this.stopped) return; // left undelivered: the next start delivers it
    try {
      await this.o.run(entry);
      this.aside.delete(entry.seq);
    } catch (error) {
      this.o.events.emit("error", { where: "deliver", error });
      this.setAsideFor(entry);
    }
  }

  private setAsideFor(entry: InboxEntry): void {
    if (this.stopped) return;
    const previous = this.aside.get(entry.seq);
    if (!previous && this.aside.size >= MAX_SET_ASIDE) return; // undelivered in the store until the next start
    const attempts = (previous?.attempts ?? 0) + 1;
    const base = this.o.retry?.baseMs ?? 1000;
    const max = this.o.retry?.maxMs ?? 60_000;
    const delay = Math.min(max, base * 2 ** Math.min(attempts - 1, 20));
    const a: Aside = { attempts };
    a.timer = setTimeout(
      () => {
        a.timer = undefined;
        void this.enqueue(entry);
      },
      delay / 2 + Math.random() * (delay / 2),
    );
    a.timer.unref();
    this.aside.set(entry.seq, a);
  }
}
