// Where a post group's room has read each member's feed up to (PROTOCOL §16.10
// `seq`), so a member's post notice reads that member's feed from there on,
// not from its start. Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("post_room_cursors", (t) => {
    t.text("room_id").notNullable();
    t.text("author").notNullable();
    /** The feed position read up to: the next read asks for what comes after it. */
    t.bigInteger("cursor").notNullable();
    t.primary(["room_id", "author"]);
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
