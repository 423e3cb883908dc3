// End-to-bridge encryption: one row per bridged Matrix identity (the bot and
// each ghost with a device) holding its sealed crypto-store snapshot and its
// to-device catch-up position, and the
// encrypted room events that could not be decrypted yet, kept until their key
// arrives. Forward-only: a released migration is never edited.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("crypto_identities", (t) => {
    t.text("user_id").primary();
    t.text("device_id").notNullable();
    // The whole machine state, sealed (sealed-snapshot.ts); replaced in one statement.
    t.binary("snapshot").notNullable();
    t.bigInteger("saved_at").notNullable();
    // The device's /sync position: to-device messages the homeserver did not
    // push (Synapse drops them from retried transactions) are fetched from here.
    t.text("sync_token").nullable();
  });

  await knex.schema.createTable("crypto_pending_events", (t) => {
    t.text("event_id").primary();
    t.text("room_id").notNullable();
    t.text("session_id").notNullable();
    // The encrypted event as received (ciphertext only).
    t.text("event_json").notNullable();
    t.bigInteger("received_at").notNullable();
    t.index(["session_id"], "crypto_pending_session");
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
