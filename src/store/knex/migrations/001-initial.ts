// The initial schema. Migrations are forward-only: a released migration is
// never edited, a change is a new numbered file listed in ./index.ts.
//
// Every idempotency promise of the store is a uniqueness constraint here, so it
// holds however requests interleave. Times are milliseconds since the epoch and
// sizes are bytes, both bigint.

import type { Knex } from "knex";

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable("accounts", (t) => {
    t.text("address").primary();
    t.text("account_key").notNullable();
    t.text("device_list_json").notNullable();
    t.bigInteger("device_list_version").notNullable();
    t.text("profile_json").nullable();
    t.bigInteger("quota_bytes").notNullable();
    t.bigInteger("created_at").notNullable();
  });

  await knex.schema.createTable("devices", (t) => {
    t.text("address").notNullable().references("address").inTable("accounts").onDelete("CASCADE");
    t.text("device").notNullable();
    t.text("chain_json").notNullable();
    t.bigInteger("head_seq").notNullable();
    t.text("sign_key").notNullable();
    t.bigInteger("revoked_at").nullable();
    t.primary(["address", "device"]);
  });

  // Key ids of current and retired encryption keys, to route wraps to devices.
  await knex.schema.createTable("device_keys", (t) => {
    t.text("key_id").notNullable();
    t.text("address").notNullable().references("address").inTable("accounts").onDelete("CASCADE");
    t.text("device").notNullable();
    t.bigInteger("seq").notNullable();
    t.primary(["key_id", "address"]);
    t.index(["address", "key_id"]);
  });

  // seq is the mailbox cursor: AUTOINCREMENT on SQLite (never reused after the
  // newest row is deleted), bigserial on PostgreSQL.
  await knex.schema.createTable("envelopes", (t) => {
    t.bigIncrements("seq");
    t.text("envelope_id").notNullable().unique();
    t.text("recipient").notNullable().references("address").inTable("accounts").onDelete("CASCADE");
    t.binary("inner").notNullable();
    t.bigInteger("size").notNullable();
    t.bigInteger("expires_at").notNullable();
    t.bigInteger("received_at").notNullable();
    t.index(["recipient", "seq"]);
    t.index(["expires_at"]);
  });

  // One row per device still waiting for an envelope; the envelope is deleted
  // with its last delivery.
  await knex.schema.createTable("deliveries", (t) => {
    t.bigInteger("envelope_seq").notNullable().references("seq").inTable("envelopes").onDelete("CASCADE");
    t.text("address").notNullable();
    t.text("device").notNullable();
    t.primary(["envelope_seq", "device", "address"]);
    t.index(["address", "device", "envelope_seq"]);
  });

  // Dedup outlives the envelope row: an envelope acknowledged and deleted, then
  // replayed before its expiry, is still a duplicate.
  await knex.schema.createTable("seen_envelope_ids", (t) => {
    t.text("envelope_id").primary();
    t.bigInteger("expires_at").notNullable();
    t.index(["expires_at"]);
  });

  await knex.schema.createTable("server_keys", (t) => {
    t.text("key_id").primary();
    t.enu("kind", ["identity", "envelope"]).notNullable();
    t.text("secret").notNullable();
    t.text("cert_json").nullable();
    t.bigInteger("not_before").notNullable();
    t.bigInteger("not_after").notNullable();
  });

  await knex.schema.createTable("tokens", (t) => {
    t.text("token_hash").primary();
    t.text("address").notNullable();
    t.text("device").notNullable();
    t.bigInteger("expires_at").notNullable();
    t.index(["address", "device"]);
    t.index(["expires_at"]);
  });

  await knex.schema.createTable("blobs", (t) => {
    t.text("id").primary();
    t.text("owner").notNullable();
    t.bigInteger("size").notNullable();
    t.bigInteger("created_at").notNullable();
    t.bigInteger("expires_at").nullable();
    t.index(["owner"]);
    t.index(["expires_at"]);
  });

  await knex.schema.createTable("posts", (t) => {
    t.bigIncrements("seq");
    t.text("author").notNullable();
    t.text("post_id").notNullable();
    t.text("body_json").notNullable();
    t.boolean("is_public").notNullable();
    t.bigInteger("created_at").notNullable();
    t.unique(["author", "post_id"]);
    t.index(["author", "seq"]);
  });

  // ord keeps the post's blob ids in the order they were given.
  await knex.schema.createTable("post_blobs", (t) => {
    t.bigInteger("post_seq").notNullable().references("seq").inTable("posts").onDelete("CASCADE");
    t.text("blob_id").notNullable();
    t.integer("ord").notNullable();
    t.primary(["post_seq", "blob_id"]);
    t.index(["blob_id"]);
  });
}

export function down(): Promise<void> {
  return Promise.reject(new Error("migrations are forward-only"));
}
