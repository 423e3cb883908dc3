// What each People sender's messages made the bridge create (rooms, and ghosts
// brought into rooms), with when, so the hourly limits of bridge.limits hold
// across restarts. Rows older than the window are pruned. Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("sender_creations", (t) => {
    t.increments("id").primary();
    t.text("sender").notNullable();
    t.integer("rooms").notNullable();
    t.integer("ghosts").notNullable();
    t.bigInteger("created_at").notNullable();
    t.index(["sender", "created_at"], "sender_creations_sender_time");
    t.index(["created_at"], "sender_creations_time");
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
