// Lazy accounts (issue 17): the bridge opens a user's People account only when it
// has traffic, so it must remember, without opening it, when the account's keys
// were last looked after (rotated before its device certificate runs out) and
// whether it must open at the next start: set while it is open, cleared when it
// closes with no work of its own, so after a crash every account that was open
// opens again (its outbox, its set-aside messages), and one that moved to another
// server (mail over a socket there: never closed) always does. Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("people_accounts", (t) => {
    /** When the account was last opened and its keys rotated if due; null: not since this column exists. */
    t.bigInteger("maintained_at");
    /** Open at the next start: it was open (or had work left) when the bridge last stopped. */
    t.boolean("open_at_start").notNullable().defaultTo(false);
  });
  await knex.schema.alterTable("people_accounts", (t) => {
    t.index(["maintained_at"], "people_accounts_maintained_at");
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
