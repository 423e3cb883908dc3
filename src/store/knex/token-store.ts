// Bearer tokens, stored only as their SHA-256; a token is valid while now < expiresAt.

import type { Knex } from "knex";
import type { TokenRecord, TokenStore } from "../types.js";
import { num } from "./sql-values.js";

interface TokenRow {
  token_hash: string;
  address: string;
  device: string;
  expires_at: number | string;
}

export class KnexTokenStore implements TokenStore {
  constructor(private readonly db: Knex) {}

  async put(record: TokenRecord): Promise<void> {
    await this.db<TokenRow>("tokens")
      .insert({
        token_hash: record.tokenHash,
        address: record.address,
        device: record.device,
        expires_at: record.expiresAt,
      })
      .onConflict("token_hash")
      .merge();
  }

  async get(tokenHash: string, now: number): Promise<TokenRecord | undefined> {
    const row = await this.db<TokenRow>("tokens")
      .where("token_hash", tokenHash)
      .andWhere("expires_at", ">", now)
      .first();
    if (!row) return undefined;
    return {
      tokenHash: row.token_hash,
      address: row.address,
      device: row.device,
      expiresAt: num(row.expires_at),
    };
  }

  async deleteForDevice(address: string, device: string): Promise<void> {
    await this.db("tokens").where({ address, device }).del();
  }

  async expire(now: number): Promise<number> {
    return this.db("tokens").where("expires_at", "<=", now).del();
  }
}
