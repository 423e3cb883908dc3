// The few statements every round trip runs (message_map, processed_transactions,
// catchup_marks), run on the SQLite connection itself as prepared statements,
// not through knex's builder, pool and promise chain (most of the bridge's SQL
// cost was knex's, not SQLite's). Only while no knex transaction is open on the
// connection: there is one connection (knex-config.ts) and better-sqlite3 runs
// each statement synchronously, so a statement run here between two of knex's
// lands outside any transaction, as its own commit, exactly as knex would run
// it; inside an open transaction it would join it (and be rolled back with it),
// so the store then takes knex's way. PostgreSQL always takes knex's way.
import type { SqliteConnection } from "../../../store/knex/knex-config.js";

interface Statement {
  get(...params: unknown[]): unknown;
  run(...params: unknown[]): unknown;
}

/** The SQLite pool's one connection, as the pool last opened it. */
export interface ConnectionRef {
  current?: SqliteConnection & { inTransaction?: boolean };
}

export class SqliteFastPath {
  constructor(private readonly ref: ConnectionRef) {}

  /** The connection, when a statement may run on it now; undefined: use knex. */
  private ready(): SqliteConnection | undefined {
    const conn = this.ref.current;
    return conn && conn.inTransaction === false ? conn : undefined;
  }

  /** The first row of `sql`, `undefined` for none; `FAST_PATH_CLOSED` when knex must run it. */
  get<T>(sql: string, params: readonly unknown[]): T | undefined | typeof FAST_PATH_CLOSED {
    const conn = this.ready();
    if (!conn) return FAST_PATH_CLOSED;
    return (conn.prepare(sql) as Statement).get(...params) as T | undefined;
  }

  /** Runs a write; false when knex must run it. */
  run(sql: string, params: readonly unknown[]): boolean {
    const conn = this.ready();
    if (!conn) return false;
    (conn.prepare(sql) as Statement).run(...params);
    return true;
  }
}

/** The fast path could not run the statement now (a transaction is open, or not SQLite). */
export const FAST_PATH_CLOSED: unique symbol = Symbol("fast path closed");
