// Login challenges: one row each, consumed by DELETE … RETURNING, so of two
// server processes presented the same challenge at once exactly one gets it.

import type { Knex } from "knex";
import type { ChallengeRecord, ChallengeStore } from "../types.js";
import { num } from "./sql-values.js";

interface ChallengeRow {
  challenge: string;
  address: string;
  device: string;
  expires_at: number | string;
}

export class KnexChallengeStore implements ChallengeStore {
  constructor(private readonly db: Knex) {}

  async put(record: ChallengeRecord): Promise<void> {
    await this.db<ChallengeRow>("auth_challenges").insert({
      challenge: record.challenge,
      address: record.address,
      device: record.device,
      expires_at: record.expiresAt,
    });
  }

  async consume(challenge: string, now: number): Promise<ChallengeRecord | undefined> {
    // Deleted whatever the outcome (single use); only a live one is returned.
    // Raw: knex's delete().returning() returns only a count on SQLite. The result is the rows
    // (better-sqlite3) or { rows } (pg).
    const result = (await this.db.raw(
      "delete from auth_challenges where challenge = ? returning challenge, address, device, expires_at",
      [challenge],
    )) as ChallengeRow[] | { rows: ChallengeRow[] };
    const rows = Array.isArray(result) ? result : result.rows;
    const row = rows[0];
    if (!row || num(row.expires_at) < now) return undefined;
    return {
      challenge: row.challenge,
      address: row.address,
      device: row.device,
      expiresAt: num(row.expires_at),
    };
  }

  async count(): Promise<number> {
    const row = await this.db("auth_challenges").count({ n: "*" }).first();
    return num(row?.n as number | string | undefined);
  }

  async expire(now: number): Promise<number> {
    return this.db("auth_challenges").where("expires_at", "<", now).del();
  }
}
