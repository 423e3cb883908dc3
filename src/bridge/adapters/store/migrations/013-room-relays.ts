// Relay mode: the relay of a group room, the Matrix user whose People account
// sends the messages of the room's members who have no People address
// (`!people set-relay`). One per room. Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("room_relays", (t) => {
    t.text("room_id").primary();
    t.text("matrix_user").notNullable();
    t.bigInteger("created_at").notNullable();
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
