// Keep each account's stored envelope bytes in a counter, so the quota check
// at ingest is one row read instead of a sum over the whole mailbox (which
// grew with the mailbox and dominated ingest time in the benchmark).
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable("accounts", (t) => {
    t.bigInteger("mailbox_bytes").notNullable().defaultTo(0);
  });
  await knex("accounts").update({
    mailbox_bytes: knex("envelopes")
      .where("envelopes.recipient", knex.ref("accounts.address"))
      .select(knex.raw("coalesce(sum(size), 0)")),
  });
}

export async function down(): Promise<void> {
  throw new Error("migrations only move forward");
}
