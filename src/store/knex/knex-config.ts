// The knex settings both stores use (the People server's and the bridge's):
// SQLite in WAL mode, or a PostgreSQL pool. With synchronous=FULL every commit
// fsyncs the WAL, so it survives power loss and not only a process crash; the
// People server and the bridge commit with NORMAL and fsync the WAL once
// before each acknowledgement instead (WalSync, src/shared/wal-sync.ts).
import { closeSync, constants, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Knex } from "knex";
import { cacheStatements, type PreparingConnection, type StatementDb } from "../../shared/statement-cache.js";

/** The part of a better-sqlite3 Database the pool hook uses. */
export interface SqliteConnection extends PreparingConnection {
  pragma(source: string): unknown;
}

/** Rows changed on the connection since it opened (SQLite's total_changes()), read without knex. */
export function totalChanges(conn: SqliteConnection): number {
  const statement = conn.prepare("select total_changes() as n") as { get(): { n: number } };
  return statement.get().n;
}

/**
 * A new SQLite file is private: its directory is made 0700 and the file 0600 before SQLite
 * opens it (SQLite gives its -wal and -shm files the database file's mode). An existing file
 * keeps the mode its admin gave it.
 */
function createPrivately(file: string): void {
  mkdirSync(dirname(resolve(file)), { recursive: true, mode: 0o700 });
  closeSync(openSync(file, constants.O_CREAT | constants.O_RDWR, 0o600));
}

/**
 * @param onConnection is handed the pool's connection once it is set up (again if the pool opens
 *   another), for what must not pay a knex round trip: synchronous reads such as total_changes().
 * @param db names the database in the statement counts (statement-cache.ts).
 */
export function sqliteKnexConfig(
  file: string,
  synchronous: "FULL" | "NORMAL" = "FULL",
  onConnection?: (conn: SqliteConnection) => void,
  db: StatementDb = "other",
): Knex.Config {
  if (file !== ":memory:") createPrivately(file);
  return {
    client: "better-sqlite3",
    connection: { filename: file },
    useNullAsDefault: true,
    pool: {
      // One connection: SQLite serializes writers anyway, and ":memory:" must be one database.
      min: 1,
      max: 1,
      afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: SqliteConnection) => void) {
        try {
          conn.pragma("journal_mode = WAL");
          conn.pragma(`synchronous = ${synchronous}`);
          conn.pragma("foreign_keys = ON");
          conn.pragma("busy_timeout = 5000");
          // knex prepares each query anew; the stores repeat a few per message.
          cacheStatements(conn, undefined, db);
          onConnection?.(conn);
          done(null, conn);
        } catch (err) {
          done(err instanceof Error ? err : new Error(String(err)), conn);
        }
      },
    },
  };
}

export function postgresKnexConfig(connection: string, poolMax: number): Knex.Config {
  return { client: "pg", connection, pool: { min: 0, max: poolMax } };
}
