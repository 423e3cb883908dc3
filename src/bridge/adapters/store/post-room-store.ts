// post_rooms, post_room_events (migration 015) and post_room_cursors (020): the rooms whose owner's
// messages become posts, and which post each Matrix event became. The unique
// (user, audience) keeps one room per group and one public room per user.
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { PostRoom, PostRoomStore } from "../../core/ports/store.js";
import { ReadCache } from "./read-cache.js";

interface RoomRow {
  room_id: string;
  matrix_user: string;
  audience: string;
  created_at: number | string;
}

const toRoom = (r: RoomRow): PostRoom => ({
  roomId: r.room_id,
  matrixUser: r.matrix_user,
  audience: r.audience,
  createdAt: num(r.created_at),
});

export class KnexPostRoomStore implements PostRoomStore {
  /** byRoom answers (each Matrix event asks whether its room is a post room), cleared by each write of post_rooms. */
  private readonly cache = new ReadCache<PostRoom | undefined>();

  constructor(private readonly db: Knex) {}

  async put(room: PostRoom): Promise<boolean> {
    return this.cache.write(() => this.putNow(room));
  }

  private async putNow(room: PostRoom): Promise<boolean> {
    const rows = await this.db<RoomRow>("post_rooms")
      .insert({
        room_id: room.roomId,
        matrix_user: room.matrixUser,
        audience: room.audience,
        created_at: room.createdAt,
      })
      .onConflict(["matrix_user", "audience"])
      .ignore()
      .returning("room_id");
    return rows.length > 0;
  }

  async byRoom(roomId: string): Promise<PostRoom | undefined> {
    return this.cache.get(roomId, async () => {
      const row = await this.db<RoomRow>("post_rooms").where({ room_id: roomId }).first();
      return row && toRoom(row);
    });
  }

  async of(matrixUser: string, audience: string): Promise<PostRoom | undefined> {
    const row = await this.db<RoomRow>("post_rooms").where({ matrix_user: matrixUser, audience }).first();
    return row && toRoom(row);
  }

  async rooms(): Promise<PostRoom[]> {
    return (await this.db<RoomRow>("post_rooms").orderBy("created_at")).map(toRoom);
  }

  async remove(roomId: string): Promise<void> {
    await this.cache.write(() =>
      this.db.transaction(async (trx) => {
        await trx("post_room_events").where({ room_id: roomId }).del();
        await trx("post_room_cursors").where({ room_id: roomId }).del();
        await trx("post_rooms").where({ room_id: roomId }).del();
      }),
    );
  }

  async putEvent(roomId: string, eventId: string, postId: string): Promise<void> {
    await this.db("post_room_events")
      .insert({ room_id: roomId, event_id: eventId, post_id: postId })
      .onConflict(["room_id", "event_id"])
      .ignore();
  }

  async postOfEvent(roomId: string, eventId: string): Promise<string | undefined> {
    const row = (await this.db("post_room_events")
      .where({ room_id: roomId, event_id: eventId })
      .first("post_id")) as { post_id: string } | undefined;
    return row?.post_id;
  }

  async cursorOf(roomId: string, author: string): Promise<number> {
    const row = (await this.db("post_room_cursors").where({ room_id: roomId, author }).first("cursor")) as
      { cursor: number | string } | undefined;
    return row ? num(row.cursor) : 0;
  }

  async putCursor(roomId: string, author: string, cursor: number): Promise<void> {
    await this.db.transaction(async (trx) => {
      const row = (await trx("post_room_cursors").where({ room_id: roomId, author }).first("cursor")) as
        { cursor: number | string } | undefined;
      if (!row) await trx("post_room_cursors").insert({ room_id: roomId, author, cursor });
      else if (num(row.cursor) < cursor)
        await trx("post_room_cursors").where({ room_id: roomId, author }).update({ cursor });
    });
  }
}
