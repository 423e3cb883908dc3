// Registration invites made by the server's admin (`people-server invite create`).
// Only the SHA-256 of an invite token is stored, so a copy of the database
// registers nobody; `id` is a short public handle (the hash's first 12 hex
// digits) to list and revoke an invite by. `uses` only grows, under the
// condition `uses < max_uses`, so two registrations racing for the last use
// cannot both take it.
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("invites", (t) => {
    t.text("token_hash").primary();
    t.text("id").notNullable().unique();
    t.bigInteger("created_at").notNullable();
    t.bigInteger("expires_at").nullable();
    t.integer("max_uses").nullable();
    t.integer("uses").notNullable().defaultTo(0);
    t.bigInteger("revoked_at").nullable();
    t.text("note").nullable();
  });
}

export function down(): Promise<void> {
  return Promise.reject(new Error("migrations are forward-only"));
}
