// The Matrix → People retry queue: a room event that failed for now (its
// media's server answered 5xx, the People network is down) is kept here before
// its appservice transaction is acknowledged, and tried again alone with
// backoff, so the homeserver's one queue for every user keeps flowing and
// nothing is lost on a crash or restart. An event that points at a waiting one
// (an edit, a reaction, a redaction, a reply) waits behind it (`waits_for`).
// Forward-only: a released migration is never edited.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("event_retries", (t) => {
    // The order events were kept in: dependents are tried after what they wait for.
    t.increments("seq");
    t.text("event_id").notNullable().unique();
    t.text("room_id").notNullable();
    // The event as the homeserver sent it (ciphertext in an encrypted room); deleted once handled.
    t.text("event_json").notNullable();
    t.text("waits_for").nullable();
    t.bigInteger("first_failed_at").notNullable();
    t.integer("attempts").notNullable();
    t.bigInteger("next_attempt_at").notNullable();
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
