// Open SQLite connections of many client stores in one process, at most `max`
// at once (the bridge: thousands of accounts, each with its own store file).
// An open connection costs about 250 KiB (schema, page cache, lookaside, the
// WAL index) whether the account is busy or not; a closed one costs nothing,
// and reopening it takes well under a millisecond. A store asks its handle for
// the connection at every use and never keeps it across an await (every store
// method runs its SQL synchronously), so closing the least recently used
// connection when another is opened cannot cut an operation short. Closing
// checkpoints the WAL with fsyncs (synchronous=NORMAL), so nothing written
// before is less durable for it.
import Database, { type Database as SqliteDb } from "better-sqlite3";

export class SqliteHandlePool {
  /** Open handles, least recently used first (a Map keeps insertion order). */
  private readonly open = new Map<SqliteHandle, true>();
  private opens = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError("the pool holds at least one connection");
  }

  /** Connections open now. */
  get size(): number {
    return this.open.size;
  }

  /** Connections opened so far (a steady climb with traffic means `max` is too small). */
  get opened(): number {
    return this.opens;
  }

  /** @internal the handle was used: most recently used now; others closed past `max`. */
  touch(handle: SqliteHandle, opening: boolean): void {
    this.open.delete(handle);
    this.open.set(handle, true);
    if (opening) this.opens++;
    for (const lru of this.open.keys()) {
      if (this.open.size <= this.max) break;
      if (lru !== handle) lru.release();
    }
  }

  /** @internal */
  forget(handle: SqliteHandle): void {
    this.open.delete(handle);
  }
}

/** One store's connection: opened (with the connection's settings) when used, closed when the pool needs room. */
export class SqliteHandle {
  private db: SqliteDb | undefined;
  private closed = false;

  /**
   * @param setup runs on every newly opened connection (per-connection pragmas).
   * @param pool without one, the connection stays open until close().
   * @param onRelease runs after the connection was closed (e.g. to let go of other handles on its files).
   */
  constructor(
    private readonly path: string,
    private readonly setup: (db: SqliteDb) => void,
    private readonly pool?: SqliteHandlePool,
    first?: SqliteDb,
    private readonly onRelease?: () => void,
  ) {
    this.db = first;
    if (first && pool) pool.touch(this, true);
  }

  /** The open connection, opened if it was closed. */
  get(): SqliteDb {
    if (this.closed) throw new Error("the client store is closed");
    const opening = this.db === undefined;
    if (!this.db) {
      const db = new Database(this.path, { timeout: 5000 });
      try {
        this.setup(db);
      } catch (e) {
        db.close();
        throw e;
      }
      this.db = db;
    }
    this.pool?.touch(this, opening);
    return this.db;
  }

  /** Whether a connection is open now (tests). */
  get isOpen(): boolean {
    return this.db !== undefined;
  }

  /** Closes the connection until the next use (the pool, or an idle store). */
  release(): void {
    const db = this.db;
    this.db = undefined;
    this.pool?.forget(this);
    if (db?.open) {
      db.close();
      this.onRelease?.();
    }
  }

  /** Closes for good. */
  close(): void {
    this.release();
    this.closed = true;
  }
}
