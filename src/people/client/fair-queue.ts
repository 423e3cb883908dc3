// Fair queueing of received mail (issue 16): one sender's flood must not hold
// up everyone else's mail to the same account. Jobs are queued per key (the
// conversation, which for a direct message is its sender); keys are served
// round-robin, and each key's jobs run one at a time, in the order they were
// pushed. A key goes to the back of the line after each of its jobs, so a job
// of B waits for at most one job of every other key with something queued
// (and the ones running), however many each has queued. Up to `concurrency`
// keys are served at once (default 1): their jobs run side by side, while each
// key's own order holds. No IO: the caller decides what a job does.
//
// A job may call its `release` once it has taken its place in whatever order it
// keeps itself (the bridge: its turn to send into the room): the key's next job
// then starts while this one finishes (pipelining), in the same order. A
// released job no longer counts toward `concurrency`; at most
// MAX_RUNNING_PER_KEY jobs of a key run at once.

/** `release`: the key's next job may start now (the job goes on). */
export type Job = (release: () => void) => Promise<void>;

/** Jobs of one key running at once, released ones included. */
export const MAX_RUNNING_PER_KEY = 16;

interface Entry {
  job: Job;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class FairQueue {
  /** Keys with queued jobs waiting for their turn, in the order they are served next (Map keeps insertion order). */
  private readonly queues = new Map<string, Entry[]>();
  /** Keys being served, out of the line until their job finished (or released), with what they queued meanwhile. */
  private readonly active = new Map<string, Entry[]>();
  /** Jobs started and not finished, per key (released ones included). */
  private readonly running = new Map<string, number>();
  private size = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly concurrency = 1) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError("concurrency must be ≥ 1");
  }

  /** Jobs queued and not yet finished (the running ones included). */
  get pending(): number {
    return this.size;
  }

  /** Queues `job` under `key`; the promise settles as the job does. */
  push(key: string, job: Job): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const queue = this.active.get(key) ?? this.queues.get(key);
      if (queue) queue.push({ job, resolve, reject });
      else this.queues.set(key, [{ job, resolve, reject }]);
      this.size++;
      this.serve();
    });
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Starts the first job of the keys whose turn it is, while fewer than `concurrency` hold their key. */
  private serve(): void {
    while (this.active.size < this.concurrency) {
      // The first key in line that has room for one more running job.
      let next: [string, Entry[]] | undefined;
      for (const pair of this.queues) {
        if ((this.running.get(pair[0]) ?? 0) < MAX_RUNNING_PER_KEY) {
          next = pair;
          break;
        }
      }
      if (!next) return;
      const [key, queue] = next;
      this.queues.delete(key);
      this.active.set(key, queue);
      this.running.set(key, (this.running.get(key) ?? 0) + 1);
      void this.run(key, queue.shift()!);
    }
  }

  private async run(key: string, entry: Entry): Promise<void> {
    await null; // the pushing caller goes on first (a job may push)
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      // Back of the line, behind every key that queued meanwhile.
      const queue = this.active.get(key)!;
      this.active.delete(key);
      if (queue.length > 0) this.queues.set(key, queue);
      this.serve();
    };
    try {
      await entry.job(release);
      entry.resolve();
    } catch (err) {
      entry.reject(err);
    } finally {
      this.size--;
      const left = this.running.get(key)! - 1;
      if (left === 0) this.running.delete(key);
      else this.running.set(key, left);
      if (!released) release();
      // A key held back by MAX_RUNNING_PER_KEY may go again.
      else this.serve();
      if (this.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }
}
