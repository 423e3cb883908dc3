// The part of better-sqlite3's API the client store uses (the package ships no
// types and @types/better-sqlite3 is not installed; the server reaches it through knex).
declare module "better-sqlite3" {
  export interface RunResult {
    changes: number;
    lastInsertRowid: number | bigint;
  }
  export interface Statement {
    run(...params: unknown[]): RunResult;
    get(...params: unknown[]): unknown;
    all(...params: unknown[]): unknown[];
  }
  export interface Database {
    prepare(sql: string): Statement;
    exec(sql: string): Database;
    pragma(sql: string, options?: { simple?: boolean }): unknown;
    transaction<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R;
    close(): Database;
    readonly open: boolean;
  }
  const Database: new (filename: string, options?: { timeout?: number }) => Database;
  export default Database;
}
