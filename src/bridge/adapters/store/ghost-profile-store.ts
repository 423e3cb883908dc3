// ghost_profiles: the display name and avatar set on each ghost from its People profile.
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { GhostProfileRecord, GhostProfileStore } from "../../core/ports/store.js";

interface Row {
  people_address: string;
  display_name: string;
  avatar_hash: string | null;
  avatar_mxc: string | null;
  fetched_at: number | string;
}

export class KnexGhostProfileStore implements GhostProfileStore {
  constructor(private readonly db: Knex) {}

  async get(address: string): Promise<GhostProfileRecord | undefined> {
    const row = await this.db<Row>("ghost_profiles").where("people_address", address).first();
    return (
      row && {
        address: row.people_address,
        displayName: row.display_name,
        avatarHash: row.avatar_hash,
        avatarMxc: row.avatar_mxc,
        fetchedAt: num(row.fetched_at),
      }
    );
  }

  async put(record: GhostProfileRecord): Promise<void> {
    await this.db<Row>("ghost_profiles")
      .insert({
        people_address: record.address,
        display_name: record.displayName,
        avatar_hash: record.avatarHash,
        avatar_mxc: record.avatarMxc,
        fetched_at: record.fetchedAt,
      })
      .onConflict("people_address")
      .merge();
  }
}
