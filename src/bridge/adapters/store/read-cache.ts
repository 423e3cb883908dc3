// Reads kept in memory for tables that change only through this process's
// store (portals, room kinds, accounts, logins): the bridge looks up what kind
// of room each Matrix event is in, and the account and portal of each message,
// several times per round trip, and the answer (mostly "not a feed room")
// rarely changes. Every write through the store clears the cache, before and
// after it runs; a read that started before a write ended is not kept, so a
// slow read cannot put back an answer the write made stale. Answers are
// handed out as copies, so a caller that changes one changes nothing kept.

/** Distinct keys kept at most; past it the cache starts over. */
const MAX_KEPT = 10_000;

export class ReadCache<V> {
  private readonly kept = new Map<string, V>();
  /** Bumped by every write, before and after: a read is kept only if none ran meanwhile. */
  private generation = 0;
  private writing = 0;

  /** The kept answer for `key`, or `load()`'s (kept unless a write ran meanwhile). */
  async get(key: string, load: () => Promise<V>): Promise<V> {
    if (this.kept.has(key)) return structuredClone(this.kept.get(key) as V);
    const generation = this.generation;
    const value = await load();
    if (generation === this.generation && this.writing === 0) {
      if (this.kept.size >= MAX_KEPT) this.kept.clear();
      this.kept.set(key, structuredClone(value));
    }
    return value;
  }

  /** Runs a write: nothing read before it, or while it runs, is kept. */
  async write<T>(work: () => Promise<T>): Promise<T> {
    this.clear();
    this.writing++;
    try {
      return await work();
    } finally {
      this.writing--;
      this.clear();
    }
  }

  private clear(): void {
    this.generation++;
    this.kept.clear();
  }
}
