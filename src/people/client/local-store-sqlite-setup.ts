// Setting up the client store's SQLite file before use: its tables, and the
// store key checked against the sealed verifier (or, for a new file, the salt,
// the KDF limits and the verifier written).
import type { Database as SqliteDb } from "better-sqlite3";
import type { SqliteHandlePool } from "./store-handles.js";
import { PeopleError } from "../errors.js";
import {
  DEFAULT_KDF,
  SALT_BYTES,
  StoreCipher,
  deriveStoreKey,
  randomBytesSodium,
  type KdfParams,
  type StoreKeySource,
} from "./store-crypto.js";

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS identity (id INTEGER PRIMARY KEY CHECK (id = 1), data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS servers (k TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS contacts (k TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  envelope_id TEXT NOT NULL UNIQUE,
  meta BLOB NOT NULL,
  outer BLOB NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  last_error TEXT
);
CREATE TABLE IF NOT EXISTS inbox (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  msg_key TEXT NOT NULL UNIQUE,
  received_at INTEGER NOT NULL,
  delivered INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS replay (msg_key TEXT PRIMARY KEY, until INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS replay_until ON replay (until);
CREATE TABLE IF NOT EXISTS held (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  envelope_id TEXT NOT NULL UNIQUE,
  sender TEXT NOT NULL,
  until INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS held_sender ON held (sender);
CREATE TABLE IF NOT EXISTS groups (k TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS group_keys (k TEXT PRIMARY KEY, grp TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS group_keys_grp ON group_keys (grp);
`;

const VERIFIER = Buffer.from("people/v1 client store", "utf8");

export interface OpenStoreOptions {
  dataDir: string;
  key: StoreKeySource;
  /** scrypt limits for a new store (an existing store keeps the ones it was made with). */
  kdf?: KdfParams;
  /**
   * SQLite's page cache for this store, KiB (SQLite's default: 2000). A process holding
   * thousands of stores (the bridge) keeps it small: each is mostly idle.
   */
  cacheKiB?: number;
  /** Shares a bound on open connections with other stores (store-handles.ts); without it, one stays open. */
  handles?: SqliteHandlePool;
  /**
   * No other process opens this store (the bridge's accounts): contacts and servers are then kept
   * in memory once read or written. Off by default: `people` commands may share a data directory.
   */
  exclusive?: boolean;
}

interface MetaKdf {
  kind: "scrypt" | "keyfile";
  opslimit: number;
  memlimit: number;
}

/** The store's cipher, once the key opens the verifier; a wrong key is PEOPLE_UNAUTHORIZED. */
export async function unlock(db: SqliteDb, o: OpenStoreOptions): Promise<StoreCipher> {
  const meta = (k: string) =>
    (db.prepare("SELECT v FROM meta WHERE k = ?").get(k) as { v: Buffer } | undefined)?.v;
  const kind = "keyFile" in o.key ? "keyfile" : "scrypt";
  const verifier = meta("verifier");
  if (!verifier) {
    const salt = randomBytesSodium(SALT_BYTES);
    const kdf: MetaKdf = { kind, ...(o.kdf ?? DEFAULT_KDF) };
    const cipher = new StoreCipher(await deriveStoreKey(o.key, salt, kdf));
    const put = db.prepare("INSERT INTO meta (k, v) VALUES (?, ?)");
    db.transaction(() => {
      put.run("salt", salt);
      put.run("kdf", Buffer.from(JSON.stringify(kdf)));
      put.run("verifier", cipher.seal("verifier", VERIFIER));
    })();
    return cipher;
  }
  const kdf = JSON.parse(meta("kdf")!.toString("utf8")) as MetaKdf;
  const wrong = new PeopleError("PEOPLE_UNAUTHORIZED", "client store key does not match", {
    publicText:
      kdf.kind === kind
        ? "Wrong passphrase or key file for this client store."
        : `This client store is protected by a ${kdf.kind === "scrypt" ? "passphrase" : "key file"}.`,
  });
  if (kdf.kind !== kind) throw wrong;
  const cipher = new StoreCipher(await deriveStoreKey(o.key, meta("salt")!, kdf));
  try {
    if (!cipher.open("verifier", verifier).equals(VERIFIER)) throw wrong;
  } catch {
    cipher.erase();
    throw wrong;
  }
  return cipher;
}
