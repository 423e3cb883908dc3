// Fair queueing of received mail (issue 16): one sender's flood must not hold
// up everyone else's mail to the same account. Jobs are queued per key (the
// sender's address); keys are served round-robin, one job at a time, and each
// key's jobs run in the order they were pushed. A key goes to the back of the
// line after each of its jobs, so a job of B waits for at most one job of every
// other key with something queued (and the one running), however many each has
// queued. No IO: the caller decides what a job does.

export type Job = () => Promise<void>;

interface Entry {
  job: Job;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class FairQueue {
  /** Keys with queued jobs, in the order they are served next (Map keeps insertion order). */
  private readonly queues = new Map<string, Entry[]>();
  /** The key being served, out of the line until its job finished. */
  private current: { key: string; queue: Entry[] } | undefined;
  private running: Promise<void> | undefined;
  private size = 0;

  /** Jobs queued and not yet finished (the running one included). */
  get pending(): number {
    return this.size;
  }

  /** Queues `job` under `key`; the promise settles as the job does. */
  push(key: string, job: Job): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const queue = this.current?.key === key ? this.current.queue : this.queues.get(key);
      if (queue) queue.push({ job, resolve, reject });
      else this.queues.set(key, [{ job, resolve, reject }]);
      this.size++;
      this.running ??= this.drain();
    });
  }

  /** Resolves once nothing is queued or running. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    await null; // `running` is set before the first job starts (a job may push)
    try {
      for (let next = this.take(); next; next = this.take()) {
        try {
          await next.job();
          next.resolve();
        } catch (err) {
          next.reject(err);
        } finally {
          this.size--;
          // Back of the line, behind every key that queued meanwhile.
          const { key, queue } = this.current!;
          this.current = undefined;
          if (queue.length > 0) this.queues.set(key, queue);
        }
      }
    } finally {
      this.running = undefined;
    }
  }

  /** The first job of the key whose turn it is; the key leaves the line while it runs. */
  private take(): Entry | undefined {
    const first = this.queues.entries().next();
    if (first.done) return undefined;
    const [key, queue] = first.value;
    this.queues.delete(key);
    this.current = { key, queue };
    return queue.shift()!;
  }
}
