// Group portals: a room standing for a People conversation of several
// addresses (PROTOCOL §11: a conversation is its participant set). Each room
// has its current set, and the set's key (SHA-256 of the sorted addresses) is
// unique, so one conversation is one room whichever bridged account received
// its message first.
// Forward-only: a released migration is never edited.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("group_portals", (t) => {
    t.text("room_id").primary();
    t.text("set_key").notNullable().unique({ indexName: "group_portals_set_unique" });
    t.bigInteger("created_at").notNullable();
  });

  // The participants of each group room: ghosts of People addresses, and the
  // bridged Matrix users (matrix_user set) by their People address.
  await knex.schema.createTable("group_members", (t) => {
    t.text("room_id").notNullable();
    t.text("address").notNullable();
    t.text("matrix_user");
    t.primary(["room_id", "address"]);
    t.index(["matrix_user"], "group_members_user");
  });

  // A reply, edit or reaction finds the room of the message it points at by its id alone.
  await knex.schema.alterTable("message_map", (t) => {
    t.index(["people_message_id"], "message_map_message");
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
