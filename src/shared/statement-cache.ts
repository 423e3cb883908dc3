// Prepared statements kept per SQLite connection. knex's better-sqlite3 client
// prepares every query anew (SQLite compiles it each time); the stores run the
// same few statements per message, so the connection keeps the compiled ones,
// keyed by their SQL text. SQLite re-prepares a kept statement itself when the
// schema changed (migrations). Bounded: past the limit the cache starts over.

/** The part of a better-sqlite3 Database the cache wraps. */
export interface PreparingConnection {
  prepare(source: string): unknown;
}

/** Distinct statements kept per connection (an IN list of each length is its own statement). */
export const MAX_CACHED_STATEMENTS = 500;

/** Makes `conn.prepare` return the statement prepared before for the same SQL. */
export function cacheStatements(conn: PreparingConnection, max = MAX_CACHED_STATEMENTS): void {
  const prepare = conn.prepare.bind(conn);
  const kept = new Map<string, unknown>();
  conn.prepare = (source: string) => {
    let statement = kept.get(source);
    if (statement === undefined) {
      statement = prepare(source);
      if (kept.size >= max) kept.clear();
      kept.set(source, statement);
    }
    return statement;
  };
}
