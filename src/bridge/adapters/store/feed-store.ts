// feed_rooms, feed_posts, feed_events (migration 012): who follows whom in
// which room, each post's state there and the events it became. The primary
// keys make a post shown twice (a redelivered notice, a restart) find its row.
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { FeedPost, FeedRoom, FeedStore } from "../../core/ports/store.js";
import { ReadCache } from "./read-cache.js";

interface RoomRow {
  room_id: string;
  matrix_user: string;
  author: string;
  cursor: number | string;
  created_at: number | string;
  shown_name?: string | null;
  shown_avatar?: string | null;
}

interface PostRow {
  room_id: string;
  post_id: string;
  seq: number | string;
  state: string;
  group_id: string | null;
  event_id: string | null;
  updated_at: number | string;
}

const toRoom = (r: RoomRow): FeedRoom => ({
  roomId: r.room_id,
  matrixUser: r.matrix_user,
  author: r.author,
  cursor: num(r.cursor),
  createdAt: num(r.created_at),
  ...(typeof r.shown_name === "string" ? { shownName: r.shown_name } : {}),
  ...(typeof r.shown_avatar === "string" ? { shownAvatar: r.shown_avatar } : {}),
});

const STATES = new Set<FeedPost["state"]>(["shown", "waiting", "retracted"]);

const toPost = (r: PostRow): FeedPost => ({
  roomId: r.room_id,
  postId: r.post_id,
  seq: num(r.seq),
  state: STATES.has(r.state as FeedPost["state"]) ? (r.state as FeedPost["state"]) : "shown",
  ...(r.group_id !== null ? { group: r.group_id } : {}),
  ...(r.event_id !== null ? { eventId: r.event_id } : {}),
});

export class KnexFeedStore implements FeedStore {
  /** byRoom answers (each Matrix event asks whether its room is a feed room), cleared by each write of feed_rooms. */
  private readonly cache = new ReadCache<FeedRoom | undefined>();

  constructor(private readonly db: Knex) {}

  async putRoom(room: FeedRoom): Promise<boolean> {
    return this.cache.write(() => this.putRoomNow(room));
  }

  private async putRoomNow(room: FeedRoom): Promise<boolean> {
    const rows = await this.db<RoomRow>("feed_rooms")
      .insert({
        room_id: room.roomId,
        matrix_user: room.matrixUser,
        author: room.author,
        cursor: room.cursor,
        created_at: room.createdAt,
        shown_name: room.shownName ?? null,
        shown_avatar: room.shownAvatar ?? null,
      })
      .onConflict(["matrix_user", "author"])
      .ignore()
      .returning("room_id");
    return rows.length > 0;
  }

  async roomOf(matrixUser: string, author: string): Promise<FeedRoom | undefined> {
    const row = await this.db<RoomRow>("feed_rooms").where({ matrix_user: matrixUser, author }).first();
    return row && toRoom(row);
  }

  async byRoom(roomId: string): Promise<FeedRoom | undefined> {
    return this.cache.get(roomId, async () => {
      const row = await this.db<RoomRow>("feed_rooms").where({ room_id: roomId }).first();
      return row && toRoom(row);
    });
  }

  async rooms(): Promise<FeedRoom[]> {
    return (await this.db<RoomRow>("feed_rooms").orderBy("created_at")).map(toRoom);
  }

  async advance(roomId: string, cursor: number): Promise<void> {
    await this.cache.write(() =>
      this.db<RoomRow>("feed_rooms")
        .where({ room_id: roomId })
        .andWhere("cursor", "<", cursor)
        .update({ cursor }),
    );
  }

  async setShown(roomId: string, shown: { name: string; avatar: string }): Promise<void> {
    await this.cache.write(() =>
      this.db<RoomRow>("feed_rooms")
        .where({ room_id: roomId })
        .update({ shown_name: shown.name, shown_avatar: shown.avatar }),
    );
  }

  async removeRoom(roomId: string): Promise<void> {
    await this.cache.write(() =>
      this.db.transaction(async (trx) => {
        await trx("feed_events").where({ room_id: roomId }).del();
        await trx("feed_posts").where({ room_id: roomId }).del();
        await trx("feed_rooms").where({ room_id: roomId }).del();
      }),
    );
  }

  async post(roomId: string, postId: string): Promise<FeedPost | undefined> {
    const row = await this.db<PostRow>("feed_posts").where({ room_id: roomId, post_id: postId }).first();
    return row && toPost(row);
  }

  async putPost(post: FeedPost, events: readonly string[] = [], now = Date.now()): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx<PostRow>("feed_posts")
        .insert({
          room_id: post.roomId,
          post_id: post.postId,
          seq: post.seq,
          state: post.state,
          group_id: post.group ?? null,
          event_id: post.eventId ?? null,
          updated_at: now,
        })
        .onConflict(["room_id", "post_id"])
        .merge(["seq", "state", "group_id", "event_id", "updated_at"]);
      for (const eventId of events) {
        await trx("feed_events")
          .insert({ room_id: post.roomId, event_id: eventId, post_id: post.postId })
          .onConflict(["room_id", "event_id"])
          .ignore();
      }
    });
  }

  async waiting(roomId: string, group?: string): Promise<FeedPost[]> {
    const q = this.db<PostRow>("feed_posts").where({ room_id: roomId, state: "waiting" });
    if (group !== undefined) void q.andWhere({ group_id: group });
    return (await q.orderBy("seq")).map(toPost);
  }

  async eventsOf(roomId: string, postId: string): Promise<string[]> {
    const rows = (await this.db("feed_events")
      .where({ room_id: roomId, post_id: postId })
      .select("event_id")) as { event_id: string }[];
    return rows.map((r) => r.event_id);
  }

  async postOfEvent(roomId: string, eventId: string): Promise<string | undefined> {
    const row = (await this.db("feed_events")
      .where({ room_id: roomId, event_id: eventId })
      .first("post_id")) as { post_id: string } | undefined;
    return row?.post_id;
  }
}
