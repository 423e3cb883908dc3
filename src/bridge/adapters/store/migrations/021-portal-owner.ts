// Portals per (Matrix user, own People address, remote address): a user who holds
// the bridge-made address and logged-in ones gets a portal per own address, and
// a reply in a portal is sent as the portal's own address. Existing portals
// belong to the user's bridge-made address (the only one that made portals
// before logins existed; a login-only user's to their login).
// The message map is keyed by owner too: two Matrix users on one bridge each
// keep their own copy of a DM between them (the sender's outgoing mapping no
// longer hides the receiver's copy). Group rooms are shared: their mappings
// have owner '' so one bridged copy stops the others, as before.
// `address_choices` holds `use <own address>`: which address new chats use.
// Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("portals", (t) => {
    t.text("owner_address").notNullable().defaultTo("");
  });
  await knex.raw(
    `UPDATE portals SET owner_address = COALESCE(
       (SELECT a.people_address FROM people_accounts a WHERE a.matrix_user = portals.matrix_user),
       (SELECT l.people_address FROM people_logins l WHERE l.matrix_user = portals.matrix_user
         ORDER BY l.created_at LIMIT 1),
       '')`,
  );
  await knex.schema.alterTable("portals", (t) => {
    t.dropUnique(["matrix_user", "people_address"], "portals_pair_unique");
    t.unique(["matrix_user", "owner_address", "people_address"], { indexName: "portals_owner_pair_unique" });
  });

  await knex.schema.alterTable("message_map", (t) => {
    t.text("owner_address").notNullable().defaultTo("");
  });
  await knex.raw(
    `UPDATE message_map SET owner_address = COALESCE(
       (SELECT p.owner_address FROM portals p WHERE p.room_id = message_map.room_id), '')`,
  );
  await knex.schema.alterTable("message_map", (t) => {
    t.dropUnique(["people_sender", "people_message_id"], "message_map_people_unique");
    t.unique(["owner_address", "people_sender", "people_message_id"], {
      indexName: "message_map_owner_people_unique",
    });
  });

  await knex.schema.createTable("address_choices", (t) => {
    t.text("matrix_user").primary();
    t.text("people_address").notNullable();
    t.bigInteger("updated_at").notNullable();
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
