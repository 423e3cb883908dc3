// Who is in conversation with a People address (issue 17): a ghost's profile is
// read through the account of a Matrix user who talks with it, found by the
// address, not by asking every account's store in turn (one SQLite connection
// opened per account past bridge.open_account_stores: 120 opens a user at 200
// users). Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("portals", (t) => {
    t.index(["people_address"], "portals_people_address");
  });
  await knex.schema.alterTable("group_members", (t) => {
    t.index(["address"], "group_members_address");
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
