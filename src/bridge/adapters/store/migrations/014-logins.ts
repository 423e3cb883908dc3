// Logins: People addresses a Matrix user logged the bridge in to (`login`), the
// bridge being one linked device of an account it did not make. The device's
// keys and the account key live in a client store of their own under
// people.data_dir/users/<user>/logins/, encrypted with a passphrase derived
// from the bridge secret; this table only says which user holds which login.
// An address is logged in for one Matrix user at most. Forward-only.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("people_logins", (t) => {
    t.text("people_address").primary();
    t.text("matrix_user").notNullable();
    t.bigInteger("created_at").notNullable();
    t.index(["matrix_user"], "people_logins_user");
  });
}

export async function down(): Promise<void> {
  throw new Error("bridge migrations are forward-only");
}
