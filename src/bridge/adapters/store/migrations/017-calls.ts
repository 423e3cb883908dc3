// Calls bridged between a Matrix client and a People device (bridge/calls):
// the Matrix call id, its People session, the room and both parties, so a
// bridge that restarts mid-call hangs up both sides instead of leaving one
// ringing. An ended call's row stays a while (ended_at) so an invite read
// again (catch-up after a restart) does not call anew. Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("bridged_calls", (t) => {
    t.text("call_id").primary();
    t.text("session").notNullable().unique();
    t.text("room_id").notNullable();
    t.text("matrix_user").notNullable();
    t.text("people_address").notNullable();
    /** to_people: the Matrix user called; to_matrix: the People address called. */
    t.text("direction").notNullable();
    /** The People device's party id once known. */
    t.text("people_device");
    t.bigInteger("created_at").notNullable();
    t.bigInteger("ended_at");
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
