// Personal spaces (bridge.personal_space): one space per Matrix user, and the
// rooms already added to it (so a start adds only what is missing). Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("personal_spaces", (t) => {
    t.text("matrix_user").primary();
    t.text("room_id").notNullable().unique();
    t.bigInteger("created_at").notNullable();
  });
  await knex.schema.createTable("personal_space_children", (t) => {
    t.text("space_id").notNullable();
    t.text("room_id").notNullable();
    t.primary(["space_id", "room_id"]);
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
