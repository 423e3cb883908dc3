// Group commit: concurrent writes are queued and committed together in one
// transaction, so N concurrent ingests cost one fsync instead of N.
//
// There is no timer. A batch starts on setImmediate: after the event loop has
// handled the I/O that is ready, so every request that arrived meanwhile joins
// it. (A microtask is too early: better-sqlite3 runs a whole transaction
// without returning to the event loop, so requests that arrived during it are
// only read afterwards, and a microtask start would commit them one by one.)
// An idle server therefore pays one loop turn of latency, and a busy one amortizes.

/** What the batch writer returns for one item: its result, or an error for that caller alone. */
export type ItemOutcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * Writes a batch in one transaction and returns one outcome per item, in
 * order. Throwing (the transaction failed or rolled back) rejects every caller
 * of the batch with that error.
 */
export type BatchWriter<T, R> = (items: readonly T[]) => Promise<ItemOutcome<R>[]>;

interface Waiter<T, R> {
  item: T;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

export class GroupCommit<T, R> {
  private queue: Waiter<T, R>[] = [];
  private running = false;
  private idleWaiters: (() => void)[] = [];

  /**
   * @param maxBatch bounds one transaction's size (and lock time); a longer
   *   queue is drained in several consecutive batches.
   */
  constructor(
    private readonly write: BatchWriter<T, R>,
    private readonly maxBatch = 1000,
  ) {}

  /** Resolves once the item's batch has committed, with this item's own outcome. */
  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Resolves when nothing is queued or being written (for an orderly close). */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(): Promise<void> {
    for (let first = true; this.queue.length > 0; first = false) {
      // Let the requests that arrived during the last transaction be read and join this batch.
      if (!first) await new Promise<void>((resolve) => setImmediate(resolve));
      const batch = this.queue.splice(0, this.maxBatch);
      let outcomes: ItemOutcome<R>[];
      try {
        outcomes = await this.write(batch.map((w) => w.item));
        if (outcomes.length !== batch.length) {
          throw new Error(
            `group commit: writer returned ${outcomes.length} outcomes for ${batch.length} items`,
          );
        }
      } catch (error) {
        for (const w of batch) w.reject(error);
        continue;
      }
      batch.forEach((w, i) => {
        const outcome = outcomes[i] as ItemOutcome<R>;
        if (outcome.ok) w.resolve(outcome.value);
        else w.reject(outcome.error);
      });
    }
    this.running = false;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
