// A user may have several management rooms (any direct room with the bot):
// management_rooms is keyed by (user_id, room_id) instead of user_id alone,
// which made a newer room silently replace the older one. The rows kept are
// copied; a room replaced before this migration is not known any more (its
// owner invites the bot again). Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("management_rooms_v2", (t) => {
    t.text("user_id").notNullable();
    t.text("room_id").notNullable();
    t.bigInteger("created_at").notNullable();
    t.primary(["user_id", "room_id"]);
    t.index(["room_id"], "management_rooms_v2_room_id_index");
  });
  await knex.raw(
    "INSERT INTO management_rooms_v2 (user_id, room_id, created_at) " +
      "SELECT user_id, room_id, created_at FROM management_rooms",
  );
  await knex.schema.dropTable("management_rooms");
  await knex.schema.renameTable("management_rooms_v2", "management_rooms");
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
