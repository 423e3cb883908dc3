// DM portals: the People account the bridge holds for each Matrix user, the
// rooms that stand for a conversation between one Matrix user and one People
// address, and which Matrix event is which People message. Every idempotency
// promise of the portal flows is a uniqueness constraint here.
// Forward-only: a released migration is never edited.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  // One People account per Matrix user, `<localpart>@<people.domain>`; its keys
  // live in the user's client store under people.data_dir/users/.
  await knex.schema.createTable("people_accounts", (t) => {
    t.text("matrix_user").primary();
    t.text("people_address").notNullable().unique({ indexName: "people_accounts_address_unique" });
    t.bigInteger("created_at").notNullable();
  });

  // A portal: the room where one Matrix user talks with one People address (its ghost).
  await knex.schema.createTable("portals", (t) => {
    t.text("room_id").primary();
    t.text("matrix_user").notNullable();
    t.text("people_address").notNullable();
    t.bigInteger("created_at").notNullable();
    t.unique(["matrix_user", "people_address"], { indexName: "portals_pair_unique" });
  });

  // Each Matrix event and each People message is bridged once: a redelivered
  // event or message finds its row and is not sent again.
  await knex.schema.createTable("message_map", (t) => {
    t.text("matrix_event_id").primary();
    t.text("people_message_id").notNullable();
    t.text("people_sender").notNullable();
    t.text("room_id").notNullable();
    t.bigInteger("created_at").notNullable();
    t.unique(["people_sender", "people_message_id"], { indexName: "message_map_people_unique" });
    t.index(["room_id", "people_message_id"], "message_map_room_message");
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
