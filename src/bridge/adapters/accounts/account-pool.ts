// Which accounts are open (issue 17, lazy accounts): an account is a row until
// something needs it, is opened once however many ask at the same time, and is
// closed again when it has been idle for `idleMs` or when more than `maxOpen`
// are open (least recently used first), like the crypto machines' eviction.
// A lease (hold/lease) keeps an account open while work runs on it, and
// `busy` lets the account veto a close while it has work of its own (an
// outbox to deliver, a call): an account is never closed mid-delivery.
export interface AccountPoolOptions<T> {
  /** Closed after this long without use (bridge.accounts.idle_close_seconds). */
  idleMs: number;
  /** Open at most this many when they are all idle (bridge.accounts.max_open); leased ones may go past it. */
  maxOpen: number;
  now: () => number;
  open(key: string): Promise<T>;
  close(key: string, value: T): Promise<void>;
  /** Work of the account's own that must finish before it closes. */
  busy(value: T): Promise<boolean>;
  /** After an open, with the account in the pool (it may be held now). */
  opened?(key: string, value: T): void;
  /** After a close (for example: mail arrived meanwhile, open it again). */
  closed?(key: string): void;
}

interface Entry<T> {
  value: T | undefined;
  opening: Promise<T> | undefined;
  closing: Promise<void> | undefined;
  leases: number;
  lastUsed: number;
  /** Counts every use: one during a `busy` check keeps the account open. */
  uses: number;
}

export class AccountPool<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private stopped = false;

  constructor(private readonly o: AccountPoolOptions<T>) {}

  /** Accounts open now (or opening). */
  get size(): number {
    return this.entries.size;
  }

  /** The open account, without opening it (marks it used). */
  peek(key: string): T | undefined {
    const e = this.entries.get(key);
    if (!e?.value || e.closing) return undefined;
    this.touch(e);
    return e.value;
  }

  /** The accounts open now (without marking them used). */
  openValues(): T[] {
    return [...this.entries.values()].flatMap((e) => (e.value !== undefined && !e.closing ? [e.value] : []));
  }

  /** Whether the account is open now. */
  isOpen(key: string): boolean {
    const e = this.entries.get(key);
    return e?.value !== undefined && !e.closing;
  }

  /** The account, opened if it was not (one open however many ask). */
  async get(key: string): Promise<T> {
    for (;;) {
      if (this.stopped) throw new Error("the accounts are closing");
      const e = this.entries.get(key);
      if (e?.closing) {
        await e.closing.catch(() => undefined);
        continue;
      }
      if (e?.value) {
        this.touch(e);
        return e.value;
      }
      if (e?.opening) return e.opening;
      return this.startOpen(key);
    }
  }

  /** Runs `work` with the account open and held: no close while it runs. */
  async lease<R>(key: string, work: (value: T) => Promise<R>): Promise<R> {
    for (;;) {
      const value = await this.get(key);
      const release = this.hold(key);
      // A close that started between the open and the hold: take the next open.
      if (!release) continue;
      try {
        return await work(value);
      } finally {
        release();
      }
    }
  }

  /** Holds an open account until the returned release is called; undefined when it is not open. */
  hold(key: string): (() => void) | undefined {
    const e = this.entries.get(key);
    if (!e?.value || e.closing) return undefined;
    e.leases++;
    this.touch(e);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      e.leases--;
      this.touch(e);
    };
  }

  /**
   * Closes the accounts idle for idleMs, then the least recently used idle ones past maxOpen.
   * Held or busy accounts stay. Returns how many were closed.
   */
  async sweep(): Promise<number> {
    const now = this.o.now();
    const open = [...this.entries].filter(([, e]) => e.value !== undefined && !e.closing && e.leases === 0);
    open.sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    let over = this.entries.size - this.o.maxOpen;
    let closed = 0;
    for (const [key, e] of open) {
      const idle = now - e.lastUsed >= this.o.idleMs;
      if (!idle && over <= 0) break;
      const uses = e.uses;
      if (await this.o.busy(e.value!)) continue;
      // Used while `busy` was asked: it stays.
      if (e.leases > 0 || e.uses !== uses || e.closing) continue;
      await this.closeEntry(key, e);
      over--;
      closed++;
    }
    return closed;
  }

  /** Closes every account (the bridge stops); further gets fail. */
  async closeAll(): Promise<void> {
    this.stopped = true;
    const all = [...this.entries];
    await Promise.all(
      all.map(async ([key, e]) => {
        const value = e.value ?? (await e.opening?.catch(() => undefined));
        if (value !== undefined && !e.closing) await this.o.close(key, value).catch(() => undefined);
        await e.closing?.catch(() => undefined);
      }),
    );
    this.entries.clear();
  }

  private startOpen(key: string): Promise<T> {
    const e: Entry<T> = {
      value: undefined,
      opening: undefined,
      closing: undefined,
      leases: 0,
      lastUsed: 0,
      uses: 0,
    };
    this.entries.set(key, e);
    e.opening = this.o.open(key).then(
      (value) => {
        e.value = value;
        e.opening = undefined;
        this.touch(e);
        this.o.opened?.(key, value);
        return value;
      },
      (err: unknown) => {
        if (this.entries.get(key) === e) this.entries.delete(key);
        throw err;
      },
    );
    return e.opening;
  }

  private async closeEntry(key: string, e: Entry<T>): Promise<void> {
    e.closing = this.o.close(key, e.value!).finally(() => {
      if (this.entries.get(key) === e) this.entries.delete(key);
    });
    // The close logs its own failure; the entry is gone either way (the next use opens anew).
    await e.closing.catch(() => undefined);
    if (!this.stopped) this.o.closed?.(key);
  }

  private touch(e: Entry<T>): void {
    e.lastUsed = this.o.now();
    e.uses++;
  }
}
