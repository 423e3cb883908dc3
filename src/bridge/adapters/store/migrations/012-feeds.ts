// Feed rooms (`follow <address>`): one room per Matrix user and followed
// address, with the position of the author's feed read up to; each post shown
// there (or waiting for its group's epoch key), and the Matrix events it
// became, so a post is sent once, an edit finds its event and a reply finds its
// post. Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("feed_rooms", (t) => {
    t.text("room_id").primary();
    t.text("matrix_user").notNullable();
    t.text("author").notNullable();
    /** The author's feed position read up to (server-wide seq); posts after it are new. */
    t.bigInteger("cursor").notNullable().defaultTo(0);
    t.bigInteger("created_at").notNullable();
    t.unique(["matrix_user", "author"], { indexName: "feed_rooms_user_author_unique" });
  });
  await knex.schema.createTable("feed_posts", (t) => {
    t.text("room_id").notNullable();
    t.text("post_id").notNullable();
    t.bigInteger("seq").notNullable();
    /** shown: in the room; waiting: its epoch key is not here yet; retracted: withdrawn by the author. */
    t.text("state").notNullable();
    t.text("group_id");
    /** The post's first event (its text, or its first attachment with the caption). */
    t.text("event_id");
    t.bigInteger("updated_at").notNullable();
    t.primary(["room_id", "post_id"]);
    t.index(["room_id", "state", "group_id"], "feed_posts_waiting_index");
  });
  await knex.schema.createTable("feed_events", (t) => {
    t.text("room_id").notNullable();
    t.text("event_id").notNullable();
    t.text("post_id").notNullable();
    t.primary(["room_id", "event_id"]);
    t.index(["room_id", "post_id"], "feed_events_post_index");
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
