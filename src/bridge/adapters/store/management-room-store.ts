// management_rooms: the Matrix users' direct rooms with the bot (any number per user).
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { ManagementRoom, ManagementRoomStore } from "../../core/ports/store.js";
import { ReadCache } from "./read-cache.js";

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
  /** ownersOf answers (each Matrix event asks whether its room is a management room), cleared by each write. */
  private readonly cache = new ReadCache<string[]>();

  constructor(private readonly db: Knex) {}

  async put(room: ManagementRoom): Promise<void> {
    await this.cache.write(() =>
      this.db<Row>("management_rooms")
        .insert({ user_id: room.userId, room_id: room.roomId, created_at: room.createdAt })
        .onConflict(["user_id", "room_id"])
        .ignore(),
    );
  }

  async forUser(userId: string): Promise<ManagementRoom | undefined> {
    return (await this.roomsOf(userId))[0];
  }

  async roomsOf(userId: string): Promise<ManagementRoom[]> {
    const rows = await this.db<Row>("management_rooms")
      .where("user_id", userId)
      .orderBy([
        { column: "created_at", order: "desc" },
        { column: "room_id", order: "asc" },
      ]);
    return rows.map(toRecord);
  }

  async ownersOf(roomId: string): Promise<string[]> {
    return this.cache.get(roomId, async () => {
      const rows = await this.db<Row>("management_rooms").where("room_id", roomId).select("user_id");
      return rows.map((r) => r.user_id);
    });
  }

  async remove(userId: string, roomId: string): Promise<void> {
    await this.cache.write(() =>
      this.db("management_rooms").where({ user_id: userId, room_id: roomId }).del(),
    );
  }

  async count(): Promise<number> {
    const row = (await this.db("management_rooms").count({ n: "*" }).first()) as { n: number | string };
    return num(row.n);
  }
}
