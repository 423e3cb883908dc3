// Which bridge state (MSC2346) each portal room was last given (its state key
// and content, a few hundred bytes): the start-up check reads this table instead of asking the
// homeserver for two state events of every portal (issue 17: at 600 portals
// the check and its writes held Synapse busy for minutes after each restart,
// slowing every message). Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("portal_bridge_state", (t) => {
    t.text("room_id").primary();
    // JSON [state key, content], the same for both types.
    t.text("label").notNullable();
    t.bigInteger("checked_at").notNullable();
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
