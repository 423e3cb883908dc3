// room_relays: the relay of each group room that has one (relay mode).
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { RoomRelay, RoomRelayStore } from "../../core/ports/store.js";

interface Row {
  room_id: string;
  matrix_user: string;
  created_at: number | string;
}

export class KnexRoomRelayStore implements RoomRelayStore {
  constructor(private readonly db: Knex) {}

  async put(relay: RoomRelay): Promise<void> {
    await this.db<Row>("room_relays")
      .insert({ room_id: relay.roomId, matrix_user: relay.matrixUser, created_at: relay.createdAt })
      .onConflict("room_id")
      .merge();
  }

  async get(roomId: string): Promise<RoomRelay | undefined> {
    const row = await this.db<Row>("room_relays").where("room_id", roomId).first();
    return row && { roomId: row.room_id, matrixUser: row.matrix_user, createdAt: num(row.created_at) };
  }

  async remove(roomId: string): Promise<boolean> {
    return (await this.db("room_relays").where("room_id", roomId).del()) > 0;
  }
}
