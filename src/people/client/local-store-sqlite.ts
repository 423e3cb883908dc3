// ClientStore on one SQLite file (better-sqlite3): WAL with synchronous=NORMAL,
// so a resolved write survives the process being killed; the writes that must
// also survive power loss fsync the WAL before they resolve, and the hot ones
// of sending and receiving leave that to sync(), called once before the
// acknowledgement that relies on them (wal-sync.ts); secure_delete, so an
// erased key's bytes do not stay in free pages. Values are sealed by
// StoreCipher; lookups go through keyed hashes, so the file names no
// contact, sender or recipient and holds no message text or secret in clear.
// The file's tables and key check: local-store-sqlite-setup.ts.
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import Database, { type Database as SqliteDb } from "better-sqlite3";
import { PeopleError } from "../errors.js";
import { WalSync } from "../../shared/wal-sync.js";
import { cacheStatements } from "../../shared/statement-cache.js";
import type {
  ClientStore,
  CommitResult,
  ContactRecord,
  GroupKeyRecord,
  GroupRecord,
  HeldEnvelope,
  InboxEntry,
  OutboxInsert,
  OutboxRow,
  ServerRecord,
  StoredIdentity,
  StoredMessage,
} from "./local-store.js";
import { SCHEMA, unlock, type OpenStoreOptions } from "./local-store-sqlite-setup.js";
import { SqliteHandle } from "./store-handles.js";
import type { StoreCipher } from "./store-crypto.js";

export type { OpenStoreOptions } from "./local-store-sqlite-setup.js";
export const CLIENT_DB_FILE = "client.db";

export async function openSqliteClientStore(o: OpenStoreOptions): Promise<ClientStore> {
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const path = join(o.dataDir, CLIENT_DB_FILE);
  // Per connection: a pooled store's connection is opened again with the same settings (store-handles.ts).
  const setup = (db: SqliteDb): void => {
    db.pragma("synchronous = NORMAL");
    db.pragma("secure_delete = ON");
    if (o.cacheKiB !== undefined) db.pragma(`cache_size = ${-Math.max(1, Math.floor(o.cacheKiB))}`);
    // Sending and receiving run the same dozen statements per message: compiled once per connection.
    cacheStatements(db, undefined, "people_client");
  };
  const db = new Database(path, { timeout: 5000 });
  try {
    chmodSync(path, 0o600);
    db.pragma("journal_mode = WAL");
    setup(db);
    db.exec(SCHEMA);
    const cipher = await unlock(db, o);
    // Opening read the schema and meta pages: give them back (~100 KiB a store), they come again on use.
    if (o.cacheKiB !== undefined) db.pragma("shrink_memory");
    const wal = new WalSync(path);
    // A connection the pool closes gives its kept WAL handle back too (the next sync opens it again).
    const handle = new SqliteHandle(path, setup, o.handles, db, () => void wal.close());
    return new SqliteClientStore(handle, cipher, wal, o.exclusive === true);
  } catch (e) {
    db.close();
    throw e;
  }
}

interface InboxRow {
  seq: number;
  msg_key: string;
  received_at: number;
  delivered: number;
  data: Buffer;
}

interface OutboxDbRow {
  id: number;
  envelope_id: string;
  meta: Buffer;
  outer: Buffer;
  attempts: number;
  next_attempt_at: number;
  expires_at: number;
  last_error: string | null;
}

/** Contacts and servers kept per exclusive store at most (past it the memory starts over). */
const MAX_KEPT_RECORDS = 256;
/** A name kept as having no record (JSON never reads as this). */
const NONE = "";

class SqliteClientStore implements ClientStore {
  private closed = false;
  /**
   * With `exclusive`, the contact and server records read or written, by table and name: sealing
   * and verifying read a contact several times per message. Only this object writes the table then.
   */
  private readonly kept: Map<string, string> | undefined;

  constructor(
    private readonly handle: SqliteHandle,
    private readonly cipher: StoreCipher,
    private readonly wal: WalSync,
    exclusive: boolean,
  ) {
    this.kept = exclusive ? new Map() : undefined;
  }

  /** The connection, opened again if the pool closed it: used synchronously, never across an await. */
  private get db(): SqliteDb {
    return this.handle.get();
  }

  sync(): Promise<void> {
    return this.wal.sync();
  }

  async loadIdentity(): Promise<StoredIdentity | undefined> {
    const row = this.db.prepare("SELECT data FROM identity WHERE id = 1").get() as
      { data: Buffer } | undefined;
    return row ? (this.cipher.openJson("identity", row.data) as StoredIdentity) : undefined;
  }

  async saveIdentity(identity: StoredIdentity): Promise<void> {
    this.db
      .prepare(
        "INSERT INTO identity (id, data) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data",
      )
      .run(this.cipher.sealJson("identity", identity));
    await this.wal.sync();
  }

  async deleteIdentity(): Promise<void> {
    this.db.prepare("DELETE FROM identity").run();
    await this.wal.sync();
  }

  async getServer(domain: string): Promise<ServerRecord | undefined> {
    return this.getRecord<ServerRecord>("servers", "server", domain, (r) => r.domain);
  }

  async putServer(record: ServerRecord): Promise<void> {
    this.putRecord("servers", "server", record.domain, record);
    await this.wal.sync();
  }

  async getContact(address: string): Promise<ContactRecord | undefined> {
    return this.getRecord<ContactRecord>("contacts", "contact", address, (r) => r.address);
  }

  async putContact(record: ContactRecord): Promise<void> {
    this.putRecord("contacts", "contact", record.address, record);
    await this.wal.sync();
  }

  async listContacts(): Promise<ContactRecord[]> {
    const rows = this.db.prepare("SELECT k, data FROM contacts").all() as { k: string; data: Buffer }[];
    return rows.map((r) => this.cipher.openJson(`contact:${r.k}`, r.data) as ContactRecord);
  }

  // Rows are keyed by a keyed hash of the name; the sealed value is bound to that key and names itself.
  private getRecord<T>(table: string, kind: string, name: string, nameOf: (r: T) => string): T | undefined {
    const keptKey = `${table}\0${name}`;
    const kept = this.kept?.get(keptKey);
    if (kept !== undefined) return kept === NONE ? undefined : (JSON.parse(kept) as T);
    const record = this.readRecord(table, kind, name, nameOf);
    this.keep(keptKey, record);
    return record;
  }

  /** Kept as the JSON the row seals: read back it is what the database would give, and a copy. */
  private keep(keptKey: string, record: unknown): void {
    if (!this.kept) return;
    if (this.kept.size >= MAX_KEPT_RECORDS) this.kept.clear();
    this.kept.set(keptKey, record === undefined ? NONE : JSON.stringify(record));
  }

  private readRecord<T>(table: string, kind: string, name: string, nameOf: (r: T) => string): T | undefined {
    const k = this.cipher.index(kind, name);
    const row = this.db.prepare(`SELECT data FROM ${table} WHERE k = ?`).get(k) as
      { data: Buffer } | undefined;
    if (!row) return undefined;
    const record = this.cipher.openJson(`${kind}:${k}`, row.data) as T;
    if (nameOf(record) !== name)
      throw new PeopleError("PEOPLE_INTERNAL", `${kind} record names another ${kind}`);
    return record;
  }

  private putRecord(table: string, kind: string, name: string, record: unknown): void {
    const k = this.cipher.index(kind, name);
    const keptKey = `${table}\0${name}`;
    // Forgotten first: a write that fails leaves the next read to the database.
    this.kept?.delete(keptKey);
    this.db
      .prepare(
        `INSERT INTO ${table} (k, data) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET data = excluded.data`,
      )
      .run(k, this.cipher.sealJson(`${kind}:${k}`, record));
    this.keep(keptKey, record);
  }

  async enqueue(rows: OutboxInsert[]): Promise<void> {
    const insert = this.db.prepare(
      "INSERT INTO outbox (envelope_id, meta, outer, next_attempt_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      for (const r of rows) {
        const meta = { messageId: r.messageId, address: r.address, createdAt: r.createdAt };
        insert.run(
          r.envelopeId,
          this.cipher.sealJson(`outbox:${r.envelopeId}:meta`, meta),
          this.cipher.seal(`outbox:${r.envelopeId}:outer`, r.outer),
          r.createdAt,
          r.expiresAt,
        );
      }
    })();
  }

  async outbox(): Promise<OutboxRow[]> {
    const rows = this.db.prepare("SELECT * FROM outbox ORDER BY id").all() as OutboxDbRow[];
    return rows.map((r) => {
      const meta = this.cipher.openJson(`outbox:${r.envelope_id}:meta`, r.meta) as {
        messageId: string;
        address: string;
        createdAt: number;
      };
      return {
        id: r.id,
        envelopeId: r.envelope_id,
        messageId: meta.messageId,
        address: meta.address,
        createdAt: meta.createdAt,
        outer: this.cipher.open(`outbox:${r.envelope_id}:outer`, r.outer),
        attempts: r.attempts,
        nextAttemptAt: r.next_attempt_at,
        expiresAt: r.expires_at,
        lastError: r.last_error,
      };
    });
  }

  async updateOutbox(
    id: number,
    o: { attempts: number; nextAttemptAt: number; lastError: string | null },
  ): Promise<void> {
    this.db
      .prepare("UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?")
      .run(o.attempts, o.nextAttemptAt, o.lastError, id);
  }

  async removeOutbox(id: number): Promise<void> {
    this.db.prepare("DELETE FROM outbox WHERE id = ?").run(id);
  }

  async commitMessage(message: StoredMessage, delivered: boolean): Promise<CommitResult> {
    const key = this.cipher.index("msg", `${message.from}\n${message.id}`);
    return this.db.transaction((): CommitResult => {
      // A new message (nearly all of them) costs the two inserts; the reads only follow a conflict.
      const remembered =
        this.db
          .prepare("INSERT INTO replay (msg_key, until) VALUES (?, ?) ON CONFLICT DO NOTHING")
          .run(key, message.exp).changes === 0;
      if (!remembered) {
        const result = this.db
          .prepare(
            "INSERT INTO inbox (msg_key, received_at, delivered, data) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
          )
          .run(key, message.receivedAt, delivered ? 1 : 0, this.cipher.sealJson(`inbox:${key}`, message));
        if (result.changes === 1) return { status: "new", seq: Number(result.lastInsertRowid) };
        // In the inbox but no longer remembered (pruned): as before this fold, nothing is written.
        this.db.prepare("DELETE FROM replay WHERE msg_key = ?").run(key);
      }
      const row = this.db.prepare("SELECT * FROM inbox WHERE msg_key = ?").get(key) as InboxRow | undefined;
      if (row)
        return row.delivered ? { status: "delivered" } : { status: "undelivered", entry: this.entry(row) };
      // Remembered but no longer in the inbox (the user deleted it): a replay all the same.
      return { status: "replayed" };
    })();
  }

  private entry(row: InboxRow): InboxEntry {
    const m = this.cipher.openJson(`inbox:${row.msg_key}`, row.data) as StoredMessage;
    return { ...m, seq: row.seq, delivered: row.delivered === 1 };
  }

  async markDelivered(seq: number): Promise<void> {
    this.db.prepare("UPDATE inbox SET delivered = 1 WHERE seq = ?").run(seq);
  }

  async undelivered(): Promise<InboxEntry[]> {
    const rows = this.db.prepare("SELECT * FROM inbox WHERE delivered = 0 ORDER BY seq").all() as InboxRow[];
    return rows.map((r) => this.entry(r));
  }

  async inbox(): Promise<InboxEntry[]> {
    const rows = this.db.prepare("SELECT * FROM inbox ORDER BY seq").all() as InboxRow[];
    return rows.map((r) => this.entry(r));
  }

  async pruneReplay(now: number): Promise<number> {
    this.db.prepare("DELETE FROM held WHERE until <= ?").run(now);
    return this.db.prepare("DELETE FROM replay WHERE until <= ?").run(now).changes;
  }

  async hold(o: HeldEnvelope): Promise<void> {
    this.db
      .prepare("INSERT OR IGNORE INTO held (envelope_id, sender, until, data) VALUES (?, ?, ?, ?)")
      .run(
        o.envelopeId,
        this.cipher.index("sender", o.from),
        o.until,
        this.cipher.seal(`held:${o.envelopeId}`, o.inner),
      );
    await this.wal.sync();
  }

  async heldCount(from: string): Promise<number> {
    const row = this.db
      .prepare("SELECT count(*) AS n FROM held WHERE sender = ?")
      .get(this.cipher.index("sender", from)) as { n: number };
    return row.n;
  }

  async held(from: string): Promise<HeldEnvelope[]> {
    const rows = this.db
      .prepare("SELECT * FROM held WHERE sender = ? ORDER BY id")
      .all(this.cipher.index("sender", from)) as { envelope_id: string; until: number; data: Buffer }[];
    return rows.map((r) => ({
      envelopeId: r.envelope_id,
      from,
      until: r.until,
      inner: this.cipher.open(`held:${r.envelope_id}`, r.data),
    }));
  }

  async unhold(envelopeId: string): Promise<void> {
    this.db.prepare("DELETE FROM held WHERE envelope_id = ?").run(envelopeId);
    await this.wal.sync();
  }

  // Groups and their epoch keys: rows keyed by keyed hashes of the group id (and epoch), values sealed.
  async getGroup(group: string): Promise<GroupRecord | undefined> {
    return this.getRecord<GroupRecord>("groups", "group", group, (r) => r.group);
  }

  async listGroups(): Promise<GroupRecord[]> {
    const rows = this.db.prepare("SELECT k, data FROM groups").all() as { k: string; data: Buffer }[];
    return rows.map((r) => this.cipher.openJson(`group:${r.k}`, r.data) as GroupRecord);
  }

  async putGroupKey(record: GroupRecord, key: GroupKeyRecord): Promise<void> {
    if (record.group !== key.group) throw new PeopleError("PEOPLE_INTERNAL", "group key for another group");
    const k = this.cipher.index("group-key", `${key.group}\n${key.epoch}`);
    this.db.transaction(() => {
      this.putRecord("groups", "group", record.group, record);
      this.db
        .prepare(
          "INSERT INTO group_keys (k, grp, data) VALUES (?, ?, ?) ON CONFLICT (k) DO UPDATE SET data = excluded.data",
        )
        .run(k, this.cipher.index("group", key.group), this.cipher.sealJson(`group-key:${k}`, key));
    })();
    await this.wal.sync();
  }

  async getGroupKey(group: string, epoch: number): Promise<GroupKeyRecord | undefined> {
    const k = this.cipher.index("group-key", `${group}\n${epoch}`);
    const row = this.db.prepare("SELECT data FROM group_keys WHERE k = ?").get(k) as
      { data: Buffer } | undefined;
    if (!row) return undefined;
    const key = this.cipher.openJson(`group-key:${k}`, row.data) as GroupKeyRecord;
    if (key.group !== group || key.epoch !== epoch)
      throw new PeopleError("PEOPLE_INTERNAL", "group key record names another key");
    return key;
  }

  async groupKeys(group: string): Promise<GroupKeyRecord[]> {
    const rows = this.db
      .prepare("SELECT k, data FROM group_keys WHERE grp = ?")
      .all(this.cipher.index("group", group)) as { k: string; data: Buffer }[];
    return rows
      .map((r) => this.cipher.openJson(`group-key:${r.k}`, r.data) as GroupKeyRecord)
      .filter((key) => key.group === group)
      .sort((x, y) => x.epoch - y.epoch);
  }

  async compact(): Promise<void> {
    this.db.pragma("wal_checkpoint(TRUNCATE)");
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.wal.close();
    this.handle.close();
    this.cipher.erase();
  }
}
