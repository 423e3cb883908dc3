// Registration invites, stored only as the SHA-256 of their token. A use is
// taken by one conditional UPDATE, so concurrent registrations (or the admin
// revoking at the same moment) never take more uses than the invite allows.
import type { Knex } from "knex";
import type { InviteRecord, InviteStore } from "../types.js";
import { nullableNum, num } from "./sql-values.js";

type Int = number | string;

interface InviteRow {
  token_hash: string;
  id: string;
  created_at: Int;
  expires_at: Int | null;
  max_uses: Int | null;
  uses: Int;
  revoked_at: Int | null;
  note: string | null;
}

function toInvite(r: InviteRow): InviteRecord {
  return {
    tokenHash: r.token_hash,
    id: r.id,
    createdAt: num(r.created_at),
    expiresAt: nullableNum(r.expires_at),
    maxUses: nullableNum(r.max_uses),
    uses: num(r.uses),
    revokedAt: nullableNum(r.revoked_at),
    note: r.note,
  };
}

export class KnexInviteStore implements InviteStore {
  constructor(private readonly db: Knex) {}

  async create(record: InviteRecord): Promise<void> {
    await this.db<InviteRow>("invites").insert({
      token_hash: record.tokenHash,
      id: record.id,
      created_at: record.createdAt,
      expires_at: record.expiresAt,
      max_uses: record.maxUses,
      uses: record.uses,
      revoked_at: record.revokedAt,
      note: record.note,
    });
  }

  async list(): Promise<InviteRecord[]> {
    const rows = await this.db<InviteRow>("invites").orderBy([
      { column: "created_at", order: "desc" },
      { column: "id", order: "asc" },
    ]);
    return rows.map(toInvite);
  }

  async get(tokenHash: string): Promise<InviteRecord | undefined> {
    const row = await this.db<InviteRow>("invites").where("token_hash", tokenHash).first();
    return row ? toInvite(row) : undefined;
  }

  async use(tokenHash: string, now: number): Promise<boolean> {
    const changed = await this.db<InviteRow>("invites")
      .where("token_hash", tokenHash)
      .whereNull("revoked_at")
      .andWhere((q) => q.whereNull("expires_at").orWhere("expires_at", ">", now))
      .andWhere((q) => q.whereNull("max_uses").orWhere("uses", "<", this.db.ref("max_uses")))
      .increment("uses", 1);
    return changed > 0;
  }

  async giveBack(tokenHash: string): Promise<void> {
    await this.db<InviteRow>("invites")
      .where("token_hash", tokenHash)
      .andWhere("uses", ">", 0)
      .decrement("uses", 1);
  }

  async revoke(id: string, now: number): Promise<"revoked" | "already" | "unknown"> {
    const changed = await this.db<InviteRow>("invites")
      .where("id", id)
      .whereNull("revoked_at")
      .update({ revoked_at: now });
    if (changed > 0) return "revoked";
    const row = await this.db<InviteRow>("invites").where("id", id).first("id");
    return row ? "already" : "unknown";
  }
}
