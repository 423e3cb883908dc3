// Double puppets: the access token the bridge got for a Matrix user's own
// account by `m.login.application_service` (bridge.double_puppet), so it can
// show what the user sent from their other People devices as sent by them.
// The token is sealed with a key derived from the bridge secret, bound to the
// user and device, so the row is useless without the secret. Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("double_puppets", (t) => {
    t.text("matrix_user").primary();
    t.text("device_id").notNullable();
    t.binary("sealed_token").notNullable();
    t.bigInteger("created_at").notNullable();
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
