// Which bridge state (MSC2346) each portal room was last given, as a hash of
// its content: the start-up check reads this table instead of asking the
// homeserver for two state events of every portal (issue 17: at 600 portals
// the check and its writes held Synapse busy for minutes after each restart,
// slowing every message). Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("portal_bridge_state", (t) => {
    t.text("room_id").primary();
    // SHA-256 (hex) of the state key and content both types carry.
    t.text("content_hash").notNullable();
    t.bigInteger("checked_at").notNullable();
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
