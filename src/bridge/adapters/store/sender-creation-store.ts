// sender_creations: the rooms and ghosts each People sender's messages made
// the bridge create, for the hourly limits (portals/creation-limiter.ts).
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { CreationCounts, SenderCreationStore } from "../../core/ports/store.js";

interface Row {
  sender: string;
  rooms: number;
  ghosts: number;
  created_at: number | string;
}

export class KnexSenderCreationStore implements SenderCreationStore {
  constructor(private readonly db: Knex) {}

  async usedSince(sender: string, since: number): Promise<CreationCounts> {
    const row = (await this.db<Row>("sender_creations")
      .where("sender", sender)
      .andWhere("created_at", ">", since)
      .sum({ rooms: "rooms", ghosts: "ghosts" })
      .first()) as { rooms: number | string | null; ghosts: number | string | null } | undefined;
    return { rooms: num(row?.rooms ?? 0), ghosts: num(row?.ghosts ?? 0) };
  }

  async add(sender: string, counts: CreationCounts, at: number): Promise<void> {
    await this.db<Row>("sender_creations").insert({
      sender,
      rooms: counts.rooms,
      ghosts: counts.ghosts,
      created_at: at,
    });
  }

  async prune(before: number): Promise<number> {
    return this.db<Row>("sender_creations").where("created_at", "<=", before).del();
  }
}
