// Prepared statements kept per SQLite connection. knex's better-sqlite3 client
// prepares every query anew (SQLite compiles it each time); the stores run the
// same few statements per message, so the connection keeps the compiled ones,
// keyed by their SQL text. SQLite re-prepares a kept statement itself when the
// schema changed (migrations). Bounded: past the limit the cache starts over.
//
// Every statement run goes through `prepare` (knex's client and the People
// client's store both prepare before each run), so the cache also counts them
// per database kind and SQL text: the bench reads the counts per round trip.

/** The part of a better-sqlite3 Database the cache wraps. */
export interface PreparingConnection {
  prepare(source: string): unknown;
}

/** Distinct statements kept per connection (an IN list of each length is its own statement). */
export const MAX_CACHED_STATEMENTS = 500;

/** Which database a connection belongs to, for the statement counts. */
export type StatementDb = "bridge" | "people_server" | "people_client" | "other";

/** Statements prepared (so run) per database kind and SQL text, since the process started. */
const counts = new Map<StatementDb, Map<string, number>>();
/** Distinct SQL texts counted per database kind at most (an IN list of each length is its own text). */
const MAX_COUNTED = 2000;

/** The statement counts so far: database kind → SQL text → times run. */
export function statementCounts(): ReadonlyMap<StatementDb, ReadonlyMap<string, number>> {
  return counts;
}

function count(db: StatementDb, source: string): void {
  let perDb = counts.get(db);
  if (perDb === undefined) counts.set(db, (perDb = new Map()));
  const n = perDb.get(source);
  if (n !== undefined) perDb.set(source, n + 1);
  else if (perDb.size < MAX_COUNTED) perDb.set(source, 1);
  else perDb.set("(other)", (perDb.get("(other)") ?? 0) + 1);
}

/** Makes `conn.prepare` return the statement prepared before for the same SQL. */
export function cacheStatements(
  conn: PreparingConnection,
  max = MAX_CACHED_STATEMENTS,
  db: StatementDb = "other",
): void {
  const prepare = conn.prepare.bind(conn);
  const kept = new Map<string, unknown>();
  conn.prepare = (source: string) => {
    count(db, source);
    let statement = kept.get(source);
    if (statement === undefined) {
      statement = prepare(source);
      if (kept.size >= max) kept.clear();
      kept.set(source, statement);
    }
    return statement;
  };
}
