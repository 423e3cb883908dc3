// send_status: the Matrix events sent to People whose outcome is not told yet
// in full (a copy waits in the outbox, or one failed), so that the status and
// the notice survive a restart of the bridge. A message whose copies are all
// taken at the first try never gets a row. Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("send_status", (t) => {
    t.text("matrix_event_id").primary();
    t.text("room_id").notNullable();
    t.text("people_sender").notNullable();
    t.text("people_message_id").notNullable();
    /** The ghost that speaks for the bridge in the room (notices, status events). */
    t.text("notice_ghost").notNullable();
    /** The recipients as the notice names them. */
    t.text("label").notNullable();
    /** JSON: each recipient's copy state. */
    t.text("copies").notNullable();
    /** The last status told (null: none yet). */
    t.text("said");
    t.bigInteger("updated_at").notNullable();
    t.unique(["people_sender", "people_message_id"], { indexName: "send_status_message_unique" });
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
