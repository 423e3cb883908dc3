// Conversions between what the two drivers hand back and the store's records.
// PostgreSQL returns bigint/numeric as strings and SQLite returns booleans as
// 0/1; the rest of the store sees plain numbers and booleans only.

import type { Knex } from "knex";

/** A bigint column, COUNT or SUM as a JS number; refuses values past 2^53 instead of rounding. */
export function num(value: number | string | bigint | null | undefined): number {
  if (value === null || value === undefined) return 0;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`store: integer out of range: ${String(value)}`);
  return n;
}

export function nullableNum(value: number | string | bigint | null | undefined): number | null {
  return value === null || value === undefined ? null : num(value);
}

export function bool(value: boolean | number | string): boolean {
  return value === true || value === 1 || value === "1" || value === "t" || value === "true";
}

/**
 * Lists bound into one statement stay well under SQLite's variable limit and
 * PostgreSQL's 65535 parameters, however many ids a caller passes.
 */
export const CHUNK = 500;

export function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

export type Engine = "sqlite" | "postgres";

/**
 * Keys of transaction-scoped PostgreSQL advisory locks. Writers that hand out
 * cursor sequence numbers take one so that seqs commit in increasing order: a
 * reader past seq N can then never miss a smaller seq committed later.
 */
export const LOCK_NAMESPACE = 0x50504c45; // "PPLE"
export const LOCK_INGEST = 1;
export const LOCK_POSTS = 2;
/** Mailbox expiry: two server processes expiring at once would each subtract the same bytes. */
export const LOCK_EXPIRE = 3;

/** Serialize cursor-issuing writers (no-op on SQLite, which has one writer and a pool of one). */
export async function lockCursorWriters(trx: Knex.Transaction, engine: Engine, key: number): Promise<void> {
  if (engine === "postgres") {
    await trx.raw("select pg_advisory_xact_lock(?::integer, ?::integer)", [LOCK_NAMESPACE, key]);
  }
}
