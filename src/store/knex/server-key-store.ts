// The server's own keys: the identity key and its rotating envelope keys.

import type { Knex } from "knex";
import type { ServerKeyRecord, ServerKeyStore } from "../types.js";
import { num } from "./sql-values.js";

type Int = number | string;

interface ServerKeyRow {
  key_id: string;
  kind: "identity" | "envelope";
  secret: string;
  cert_json: string | null;
  not_before: Int;
  not_after: Int;
}

export class KnexServerKeyStore implements ServerKeyStore {
  constructor(private readonly db: Knex) {}

  async all(): Promise<ServerKeyRecord[]> {
    const rows = await this.db<ServerKeyRow>("server_keys").orderBy([
      { column: "not_before", order: "asc" },
      { column: "key_id", order: "asc" },
    ]);
    return rows.map((r) => ({
      kind: r.kind,
      keyId: r.key_id,
      secret: r.secret,
      certJson: r.cert_json,
      notBefore: num(r.not_before),
      notAfter: num(r.not_after),
    }));
  }

  /** Insert or replace by key id (re-certifying a key keeps one row). */
  async put(record: ServerKeyRecord): Promise<void> {
    await this.db<ServerKeyRow>("server_keys")
      .insert({
        key_id: record.keyId,
        kind: record.kind,
        secret: record.secret,
        cert_json: record.certJson,
        not_before: record.notBefore,
        not_after: record.notAfter,
      })
      .onConflict("key_id")
      .merge();
  }

  async add(record: ServerKeyRecord): Promise<void> {
    await this.db<ServerKeyRow>("server_keys")
      .insert({
        key_id: record.keyId,
        kind: record.kind,
        secret: record.secret,
        cert_json: record.certJson,
        not_before: record.notBefore,
        not_after: record.notAfter,
      })
      .onConflict("key_id")
      .ignore();
  }

  async delete(keyId: string): Promise<void> {
    await this.db("server_keys").where("key_id", keyId).del();
  }
}
