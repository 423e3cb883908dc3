// Catch-up after a homeserver outage (src/bridge/adapters/appservice/catch-up.ts). Per
// room, three positions in its history:
//   seen       the last event of a transaction the bridge applied;
//   candidate  `seen` as it was at the previous quiet check of the homeserver;
//   safe       where catch-up starts: everything before it reached the bridge.
// A quiet check (the homeserver up, as before, not restarted) makes the
// candidate safe and takes a new candidate, so `safe` is always older than
// the moment of any outage noticed later, even when the homeserver delivers
// new events before catch-up reads the old ones.
// Forward-only: a released migration is never edited.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("catchup_marks", (t) => {
    t.text("room_id").primary();
    t.text("seen_event_id");
    t.bigInteger("seen_ts");
    t.text("candidate_event_id");
    t.bigInteger("candidate_ts");
    // Null until an event was made safe: catch-up then reads back to safe_ts.
    t.text("safe_event_id");
    // origin_server_ts of the safe event (or when the room became a portal).
    t.bigInteger("safe_ts").notNullable();
    t.bigInteger("updated_at").notNullable();
  });
  // Portals made before this migration are caught up from when they were made.
  await knex.raw(
    "insert into catchup_marks (room_id, safe_ts, updated_at) " +
      "select room_id, created_at, created_at from portals",
  );
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
