// State that several server processes of one domain must share (on one
// PostgreSQL): login challenges, single use and consumed atomically by a
// DELETE … RETURNING, and fixed-window rate-limit counters, counted by an
// atomic upsert. Both expire; housekeeping deletes the dead rows.
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("auth_challenges", (t) => {
    t.text("challenge").primary();
    t.text("address").notNullable();
    t.text("device").notNullable();
    t.bigInteger("expires_at").notNullable().index();
  });
  await knex.schema.createTable("rate_counts", (t) => {
    t.text("key").notNullable();
    t.bigInteger("window_start").notNullable().index();
    t.integer("count").notNullable();
    t.primary(["key", "window_start"]);
  });
}

export function down(): Promise<void> {
  return Promise.reject(new Error("migrations are forward-only"));
}
