// Fair queueing of received mail (issue 16): one sender's flood must not hold
// up everyone else's mail to the same account. Jobs are queued per key (the
// conversation, which for a direct message is its sender); keys are served
// round-robin, and each key's jobs run one at a time, in the order they were
// pushed. A key goes to the back of the line after each of its jobs, so a job
// of B waits for at most one job of every other key with something queued
// (and the ones running), however many each has queued. Up to `concurrency`
// keys are served at once (default 1): their jobs run side by side, while each
// key's own order holds. No IO: the caller decides what a job does.

export type Job = () => Promise<void>;

interface Entry {
  job: Job;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class FairQueue {
  /** Keys with queued jobs waiting for their turn, in the order they are served next (Map keeps insertion order). */
  private readonly queues = new Map<string, Entry[]>();
  /** Keys being served, out of the line until their job finished, with what they queued meanwhile. */
  private readonly active = new Map<string, Entry[]>();
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

  /** Starts the first job of the keys whose turn it is, while fewer than `concurrency` run. */
  private serve(): void {
    while (this.active.size < this.concurrency) {
      const first = this.queues.entries().next();
      if (first.done) return;
      const [key, queue] = first.value;
      this.queues.delete(key);
      this.active.set(key, queue);
      void this.run(key, queue.shift()!);
    }
  }

  private async run(key: string, entry: Entry): Promise<void> {
    await null; // the pushing caller goes on first (a job may push)
    try {
      await entry.job();
      entry.resolve();
    } catch (err) {
      entry.reject(err);
    } finally {
      this.size--;
      // Back of the line, behind every key that queued meanwhile.
      const queue = this.active.get(key)!;
      this.active.delete(key);
      if (queue.length > 0) this.queues.set(key, queue);
      this.serve();
      if (this.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }
}
