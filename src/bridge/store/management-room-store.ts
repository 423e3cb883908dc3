// management_rooms: each Matrix user's DM with the bot.
import type { Knex } from "knex";
import { num } from "../../store/knex/sql-values.js";
import type { ManagementRoom, ManagementRoomStore } from "./types.js";

interface Row {
  user_id: string;
  room_id: string;
  created_at: number | string;
}

const toRecord = (row: Row): ManagementRoom => ({
  userId: row.user_id,
  roomId: row.room_id,
  createdAt: num(row.created_at),
});

export class KnexManagementRoomStore implements ManagementRoomStore {
  constructor(private readonly db: Knex) {}

  async put(room: ManagementRoom): Promise<void> {
    await this.db<Row>("management_rooms")
      .insert({ user_id: room.userId, room_id: room.roomId, created_at: room.createdAt })
      .onConflict("user_id")
      .merge();
  }

  async forUser(userId: string): Promise<ManagementRoom | undefined> {
    const row = await this.db<Row>("management_rooms").where("user_id", userId).first();
    return row && toRecord(row);
  }

  async ownersOf(roomId: string): Promise<string[]> {
    const rows = await this.db<Row>("management_rooms").where("room_id", roomId).select("user_id");
    return rows.map((r) => r.user_id);
  }

  async remove(userId: string, roomId: string): Promise<void> {
    await this.db("management_rooms").where({ user_id: userId, room_id: roomId }).del();
  }

  async count(): Promise<number> {
    const row = (await this.db("management_rooms").count({ n: "*" }).first()) as { n: number | string };
    return num(row.n);
  }
}
