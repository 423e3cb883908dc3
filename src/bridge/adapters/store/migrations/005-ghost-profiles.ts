// What the bridge last made of each People address's public profile: the
// ghost's display name and avatar as set, and when the profile was fetched,
// so a ghost seen again is refreshed only after the configured interval and
// an unchanged avatar is never uploaded again. Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("ghost_profiles", (t) => {
    t.text("people_address").primary();
    t.text("display_name").notNullable();
    // The People avatar's blob id: the SHA-256 of its bytes, which the signed profile pins.
    t.text("avatar_hash").nullable();
    t.text("avatar_mxc").nullable();
    t.bigInteger("fetched_at").notNullable();
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
