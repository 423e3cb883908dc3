// Blob metadata (the bytes live on disk, written by the server). A blob is
// collectable once its expiry passed and no post references it; a post's
// reference pins it however old it is.

import type { Knex } from "knex";
import type { BlobRecord, BlobStore } from "../types.js";
import { nullableNum, num } from "./sql-values.js";

type Int = number | string;

interface BlobRow {
  id: string;
  owner: string;
  size: Int;
  created_at: Int;
  expires_at: Int | null;
}

function toBlob(r: BlobRow): BlobRecord {
  return {
    id: r.id,
    owner: r.owner,
    size: num(r.size),
    createdAt: num(r.created_at),
    expiresAt: nullableNum(r.expires_at),
  };
}

export class KnexBlobStore implements BlobStore {
  constructor(private readonly db: Knex) {}

  async put(record: BlobRecord): Promise<"created" | "exists"> {
    const inserted = await this.db<BlobRow>("blobs")
      .insert({
        id: record.id,
        owner: record.owner,
        size: record.size,
        created_at: record.createdAt,
        expires_at: record.expiresAt,
      })
      .onConflict("id")
      .ignore()
      .returning("id");
    return inserted.length > 0 ? "created" : "exists";
  }

  async get(id: string): Promise<BlobRecord | undefined> {
    const row = await this.db<BlobRow>("blobs").where("id", id).first();
    return row ? toBlob(row) : undefined;
  }

  async usedBytes(owner: string): Promise<number> {
    const row = await this.db("blobs").where("owner", owner).sum({ used: "size" }).first();
    return num((row as { used: Int | null } | undefined)?.used);
  }

  async collectable(now: number, limit: number): Promise<BlobRecord[]> {
    const rows = await this.db<BlobRow>("blobs")
      .whereNotNull("expires_at")
      .andWhere("expires_at", "<=", now)
      .whereNotExists(this.db("post_blobs").select("blob_id").where("blob_id", this.db.ref("blobs.id")))
      .orderBy([
        { column: "expires_at", order: "asc" },
        { column: "id", order: "asc" },
      ])
      .limit(limit);
    return rows.map(toBlob);
  }

  async delete(id: string): Promise<void> {
    await this.db("blobs").where("id", id).del();
  }
}
