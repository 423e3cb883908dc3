// Accounts that moved to another address (PROTOCOL §20). One row per old
// address: the account-signed notice exactly as it was put, served for ever;
// `forward_until` ends the period in which the moved devices may still read
// what was pending in the old mailbox.
import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("account_moves", (t) => {
    t.text("address").primary();
    t.text("to_address").notNullable();
    t.text("notice_json").notNullable();
    t.bigInteger("moved_at").notNullable();
    t.bigInteger("forward_until").notNullable();
  });
}

export function down(): Promise<void> {
  return Promise.reject(new Error("migrations are forward-only"));
}
