// A bounded set of loaded things (crypto machines), keyed by user: loaded on
// first use, kept while used (reference counted), evicted least recently used
// when the bound is reached or when idle too long. An entry is closed only
// when nobody holds it, so an operation never sees its machine go away. When
// every loaded entry is in use, a new load waits for one to be released (a
// hard bound): callers must not hold one entry while asking for another.

export interface Closable {
  close(): Promise<void>;
}

export interface MachinePoolOptions<T extends Closable> {
  /** Most entries loaded at once (>= 1). */
  max: number;
  /** An entry unused this long is closed by sweep() (0: never). */
  idleMs: number;
  load(key: string): Promise<T>;
  now?: () => number;
  /** Told after each load and each close (the gauge reads size). */
  onChange?: (event: "loaded" | "closed", key: string) => void;
  /** A close that failed: logged by the owner, the entry is dropped anyway. */
  onCloseError?: (key: string, err: unknown) => void;
}

interface Entry<T> {
  value: Promise<T>;
  refs: number;
  lastUsed: number;
}

export class MachinePool<T extends Closable> {
  /** In insertion order = least recently used first (re-inserted on each use). */
  private readonly entries = new Map<string, Entry<T>>();
  private readonly closing = new Set<Promise<void>>();
  private readonly waiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly o: MachinePoolOptions<T>) {
    if (!(o.max >= 1)) throw new Error("max must be at least 1");
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** Entries loaded or loading now. */
  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** Runs `fn` with the entry of `key` (loaded if needed); it is not closed before `fn` settles. */
  async use<R>(key: string, fn: (value: T) => Promise<R>): Promise<R> {
    const entry = await this.acquire(key);
    try {
      return await fn(await entry.value);
    } finally {
      entry.refs--;
      entry.lastUsed = this.now();
      this.trim();
      this.wake();
    }
  }

  private async acquire(key: string): Promise<Entry<T>> {
    for (;;) {
      if (this.closed) throw new Error("the machine pool is closed");
      const existing = this.entries.get(key);
      if (existing) {
        existing.refs++;
        // Most recently used last.
        this.entries.delete(key);
        this.entries.set(key, existing);
        try {
          await existing.value;
        } catch (err) {
          existing.refs--;
          throw err;
        }
        return existing;
      }
      if (this.entries.size >= this.o.max && !this.evictOne()) {
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        continue;
      }
      // Wait for evicted entries to be saved and closed before a new one takes memory.
      if (this.closing.size > 0) await Promise.all([...this.closing]);
      if (this.entries.has(key) || this.entries.size >= this.o.max) continue;
      const entry: Entry<T> = { value: this.o.load(key), refs: 1, lastUsed: this.now() };
      this.entries.set(key, entry);
      try {
        await entry.value;
      } catch (err) {
        if (this.entries.get(key) === entry) this.entries.delete(key);
        this.wake();
        throw err;
      }
      this.o.onChange?.("loaded", key);
      return entry;
    }
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Closes the least recently used idle entry; false when every entry is in use. */
  private evictOne(): boolean {
    for (const [key, entry] of this.entries) {
      if (entry.refs > 0) continue;
      this.evict(key, entry);
      return true;
    }
    return false;
  }

  private evict(key: string, entry: Entry<T>): void {
    this.entries.delete(key);
    const p = entry.value
      .then((v) => v.close())
      .then(
        () => this.o.onChange?.("closed", key),
        (err: unknown) => this.o.onCloseError?.(key, err),
      )
      .finally(() => {
        this.closing.delete(p);
        this.wake();
      });
    this.closing.add(p);
  }

  /** Over the bound (never by new loads, but after max changed): the idle excess goes. */
  private trim(): void {
    while (this.entries.size > this.o.max && this.evictOne());
  }

  /** Closes entries unused for idleMs; called by the owner's timer. Resolves once they are closed. */
  async sweep(): Promise<number> {
    if (this.o.idleMs <= 0) return 0;
    const before = this.now() - this.o.idleMs;
    let n = 0;
    for (const [key, entry] of [...this.entries])
      if (entry.refs === 0 && entry.lastUsed <= before) {
        this.evict(key, entry);
        n++;
      }
    await Promise.all([...this.closing]);
    return n;
  }

  /** Refuses new uses, lets running ones finish (up to `graceMs`), then closes everything. */
  async close(graceMs = Infinity): Promise<void> {
    this.closed = true;
    this.wake();
    const deadline = this.now() + graceMs;
    while ([...this.entries.values()].some((e) => e.refs > 0) && this.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    for (const [key, entry] of [...this.entries]) this.evict(key, entry);
    await Promise.all([...this.closing]);
  }
}
