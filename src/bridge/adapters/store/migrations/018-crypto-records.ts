// Crypto machines at scale (issue 17): each machine's state as one sealed row
// per IndexedDB record (a save writes only the rows that changed; the whole
// snapshot in crypto_identities.snapshot is read once, for machines saved
// before, and emptied by their first save), which users each machine tracks
// (so a device-list change reaches only the machines that track that user),
// the device-list changes kept for machines that are not loaded, and which
// identities hold room keys of a room (tried first to decrypt its events).
// Forward-only: a released migration is never edited.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("crypto_records", (t) => {
    t.text("user_id").notNullable();
    // HMAC of (database, store, record key): no key material in clear.
    t.text("rkey").notNullable();
    t.binary("sealed").notNullable();
    t.primary(["user_id", "rkey"]);
  });
  await knex.schema.createTable("crypto_tracked_users", (t) => {
    t.text("user_id").notNullable();
    t.text("tracked_user_id").notNullable();
    t.primary(["user_id", "tracked_user_id"]);
    t.index(["tracked_user_id"], "crypto_tracked_by_user");
  });
  await knex.schema.createTable("crypto_device_changes", (t) => {
    t.text("user_id").notNullable();
    t.text("changed_user_id").notNullable();
    // 1 when the user left every room the machine shares with it.
    t.integer("left").notNullable().defaultTo(0);
    t.primary(["user_id", "changed_user_id"]);
  });
  await knex.schema.createTable("crypto_room_identities", (t) => {
    t.text("room_id").notNullable();
    t.text("user_id").notNullable();
    t.primary(["room_id", "user_id"]);
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
