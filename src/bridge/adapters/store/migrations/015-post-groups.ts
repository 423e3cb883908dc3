// Post rooms: a Matrix room where what its owner writes becomes People posts,
// to a post group the owner's People account owns (`group create`), or public
// ("My public posts"). One public room per user; one room per group. Each
// Matrix event that became a post is recorded with the post's id, so an edit
// or a redaction finds the post it changes. Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("post_rooms", (t) => {
    t.text("room_id").primary();
    t.text("matrix_user").notNullable();
    /** The post group's id, or "public" for the user's public posts room. */
    t.text("audience").notNullable();
    t.bigInteger("created_at").notNullable();
    t.unique(["matrix_user", "audience"], { indexName: "post_rooms_user_audience_unique" });
  });
  await knex.schema.createTable("post_room_events", (t) => {
    t.text("room_id").notNullable();
    t.text("event_id").notNullable();
    t.text("post_id").notNullable();
    t.primary(["room_id", "event_id"]);
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
