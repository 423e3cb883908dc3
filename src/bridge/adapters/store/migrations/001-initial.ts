// The bridge's own tables, beside (never inside) the People server's schema:
// they are migrated with their own bookkeeping table (bridge_migrations), so
// the two numberings never meet, even when both live in one PostgreSQL database.
// Forward-only: a released migration is never edited.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  // Appservice transactions already applied: a replayed transaction id is
  // acknowledged without being processed again. `events_hash` tells a genuine
  // replay from a homeserver that reuses ids (a reset database).
  await knex.schema.createTable("processed_transactions", (t) => {
    t.text("txn_id").primary();
    t.text("events_hash").notNullable();
    t.bigInteger("processed_at").notNullable();
    t.index(["processed_at"]);
  });

  // Each Matrix user's management room: the DM with the bot where commands are answered.
  await knex.schema.createTable("management_rooms", (t) => {
    t.text("user_id").primary();
    t.text("room_id").notNullable();
    t.bigInteger("created_at").notNullable();
    t.index(["room_id"]);
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
