// Lazy accounts (issue 17): the bridge opens a user's People account only when it
// has traffic, so it must remember, without opening it, when the account's keys
// were last looked after (rotated before its device certificate runs out) and
// whether it moved to another server (`move`: its mail comes over a socket there,
// so it stays open). Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("people_accounts", (t) => {
    /** When the account was last opened and its keys rotated if due; null: not since this column exists. */
    t.bigInteger("maintained_at");
    /** Whether its address lives on another server now (kept open: no wake from there). */
    t.boolean("remote").notNullable().defaultTo(false);
  });
  await knex.schema.alterTable("people_accounts", (t) => {
    t.index(["maintained_at"], "people_accounts_maintained_at");
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
