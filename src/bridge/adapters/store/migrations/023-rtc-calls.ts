// MatrixRTC (Element Call) calls bridged to People calls (adapters/rtc): one
// row per call while it rings or runs, written before either side is told of
// it, so a bridge that crashed mid-call ends both legs at its next start (the
// ghost's call membership emptied, a hangup to the People devices, the line in
// the room) and then deletes the row. Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("rtc_calls", (t) => {
    /** The bridge's own id of the call (the line's transaction key when no session is known). */
    t.text("call_id").primary();
    t.text("room_id").notNullable();
    t.text("matrix_user").notNullable();
    t.text("people_address").notNullable();
    t.text("ghost").notNullable();
    /** to_people: the Matrix user called; to_matrix: the People address called. */
    t.text("direction").notNullable();
    t.text("media").notNullable();
    /** ringing, then active once both sides are in the call. */
    t.text("state").notNullable();
    /** The People call's session, once known (People → Matrix: from the start). */
    t.text("session");
    /** The ghost's crypto device once it joins the Matrix call (its membership's state key). */
    t.text("ghost_device");
    /** The MSC4140 delayed leave of the ghost's membership, when the homeserver took one. */
    t.text("delay_id");
    t.bigInteger("answered_at");
    t.bigInteger("created_at").notNullable();
    t.index(["room_id"]);
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
