// What a feed room last showed of its author's profile: the room name it set
// and the avatar's hash ("" for none), so a refreshed profile renames or
// repictures the room only when it changed, and a restart sends nothing again.
// Null: not known (rooms made before this migration), set at the next refresh.
// Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("feed_rooms", (t) => {
    t.text("shown_name").nullable();
    t.text("shown_avatar").nullable();
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
