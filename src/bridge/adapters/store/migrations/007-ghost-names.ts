// Ghost names are checked more strictly since this migration (NFKC look-alikes
// of Matrix IDs, names that are another People address: model/ghost-name.ts),
// and `ghost_profiles` keeps the name made under the old rule: every profile is
// marked due, so the next time a ghost is seen its name is made again.
// Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex("ghost_profiles").update({ fetched_at: 0 });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
