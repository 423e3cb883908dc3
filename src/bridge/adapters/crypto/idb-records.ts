// A crypto machine's IndexedDB contents as one row per record (and one per
// database schema), so a save writes only what changed since the last one.
//
// Each row's key is an HMAC of (database, object store, record key), so the
// table shows no key material; its value is the record, v8-serialized and
// sealed (sealed-snapshot.ts) bound to the user, the device and the row key.
// The tracker remembers a digest of each row's plain bytes as last written:
// a save compares, and seals and writes only new or changed rows, and deletes
// the rows of records that went away.
import { createHash, createHmac } from "node:crypto";
import { deserialize, serialize } from "node:v8";
import type { DatabaseSnapshot, IndexSchema, StoreSnapshot } from "./idb-snapshot.js";
import type { IdbKey } from "./idb-types.js";

/** One stored row: its opaque key and its sealed bytes. */
export interface RecordRow {
  rkey: string;
  sealed: Buffer;
}

/** What a save writes: rows to insert or replace, row keys to delete. */
export interface RecordDiff {
  put: RecordRow[];
  del: string[];
  /** The digests after this diff is written (given to commit()). */
  readonly next: ReadonlyMap<string, string>;
}

type Plain =
  | {
      kind: "schema";
      db: string;
      version: number;
      stores: { name: string; autoIncrement: boolean; indexes: IndexSchema[] }[];
    }
  | { kind: "record"; db: string; store: string; key: IdbKey; value: unknown };

export interface RecordSealer {
  seal(rkey: string, plain: Buffer): Buffer;
  /** Throws when the row does not open (another key, another identity, altered). */
  open(rkey: string, sealed: Buffer): Buffer;
}

const digest = (b: Buffer) => createHash("sha256").update(b).digest("base64");

export class RecordTracker {
  /** Row key → digest of the plain bytes stored under it. */
  private stored = new Map<string, string>();

  constructor(
    private readonly keyOfRows: Buffer,
    private readonly sealer: RecordSealer,
  ) {}

  /** Rows stored now (as far as this tracker knows). */
  get size(): number {
    return this.stored.size;
  }

  private rowKey(parts: string, key?: IdbKey): string {
    const h = createHmac("sha256", this.keyOfRows).update(parts);
    if (key !== undefined) h.update(serialize(key));
    return h.digest("base64url");
  }

  /** Every row of `dbs`: its key and plain bytes. */
  private *rows(dbs: readonly DatabaseSnapshot[]): Generator<{ rkey: string; bytes: Buffer }> {
    for (const db of dbs) {
      const schema: Plain = {
        kind: "schema",
        db: db.name,
        version: db.version,
        stores: db.stores.map((s) => ({ name: s.name, autoIncrement: s.autoIncrement, indexes: s.indexes })),
      };
      yield { rkey: this.rowKey(`schema\0${db.name}`), bytes: serialize(schema) };
      for (const s of db.stores)
        for (const [key, value] of s.records) {
          const record: Plain = { kind: "record", db: db.name, store: s.name, key, value };
          yield { rkey: this.rowKey(`record\0${db.name}\0${s.name}\0`, key), bytes: serialize(record) };
        }
    }
  }

  /** The rows that differ between what was stored and `dbs` (the machine's databases now), sealed. */
  diff(dbs: readonly DatabaseSnapshot[]): RecordDiff {
    const next = new Map<string, string>();
    const put: RecordRow[] = [];
    for (const { rkey, bytes } of this.rows(dbs)) {
      const d = digest(bytes);
      next.set(rkey, d);
      if (this.stored.get(rkey) !== d) put.push({ rkey, sealed: this.sealer.seal(rkey, bytes) });
    }
    const del = [...this.stored.keys()].filter((k) => !next.has(k));
    return { put, del, next };
  }

  /**
   * `dbs` is what is stored (read back after a restore): v8's bytes for
   * equal values can differ (an empty array read from a deserialized copy
   * is encoded another way), so digests are taken as later saves will read them.
   */
  rebase(dbs: readonly DatabaseSnapshot[]): void {
    const stored = new Map<string, string>();
    for (const { rkey, bytes } of this.rows(dbs)) stored.set(rkey, digest(bytes));
    this.stored = stored;
  }

  /** The diff is durable: it is what is stored now. */
  commit(diff: RecordDiff): void {
    this.stored = new Map(diff.next);
  }

  /** Opens stored rows into databases (and remembers them as stored). */
  restore(rows: readonly RecordRow[]): DatabaseSnapshot[] {
    const dbs = new Map<string, DatabaseSnapshot>();
    const records: Extract<Plain, { kind: "record" }>[] = [];
    const stored = new Map<string, string>();
    for (const row of rows) {
      const bytes = this.sealer.open(row.rkey, row.sealed);
      const plain = deserialize(bytes) as Plain;
      stored.set(row.rkey, digest(bytes));
      if (plain.kind === "schema")
        dbs.set(plain.db, {
          name: plain.db,
          version: plain.version,
          stores: plain.stores.map((s): StoreSnapshot => ({ ...s, records: [] })),
        });
      else records.push(plain);
    }
    for (const r of records) {
      const store = dbs.get(r.db)?.stores.find((s) => s.name === r.store);
      // A record without its schema row: from a store that no longer exists.
      if (store) store.records.push([r.key, r.value]);
    }
    this.stored = stored;
    return [...dbs.values()];
  }
}
