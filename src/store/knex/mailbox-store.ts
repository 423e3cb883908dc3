// Mailboxes: envelopes with one delivery row per recipient device, served to
// each device by cursor and deleted with the last acknowledgement. Ingest goes
// through group commit (see group-commit.ts); reads and acks are ordinary
// transactions.

import type { Knex } from "knex";
import type { IngestResult, IngestRow, MailboxStore, StoredEnvelope } from "../types.js";
import { formatMailHint, MAIL_HINT_CHANNEL } from "../mail-hint.js";
import { GroupCommit, type ItemOutcome } from "./group-commit.js";
import {
  chunks,
  lockCursorWriters,
  LOCK_EXPIRE,
  LOCK_INGEST,
  num,
  unique,
  type Engine,
} from "./sql-values.js";

type Int = number | string;

interface EnvelopeRow {
  seq: Int;
  envelope_id: string;
  recipient: string;
  inner: Buffer;
  size: Int;
  expires_at: Int;
  received_at: Int;
}

interface DeliveryRow {
  envelope_seq: Int;
  address: string;
  device: string;
}

interface SeenRow {
  envelope_id: string;
  expires_at: Int;
}

function toEnvelope(row: Omit<EnvelopeRow, "size">): StoredEnvelope {
  return {
    seq: num(row.seq),
    envelopeId: row.envelope_id,
    recipient: row.recipient,
    inner: row.inner,
    expiresAt: num(row.expires_at),
    receivedAt: num(row.received_at),
  };
}

export class KnexMailboxStore implements MailboxStore {
  private readonly commits: GroupCommit<IngestRow, IngestResult>;

  constructor(
    private readonly db: Knex,
    private readonly engine: Engine,
    /** PostgreSQL: NOTIFY the other processes of the domain in the storing transaction (mail-hint.ts). */
    private readonly notifyOrigin?: string,
  ) {
    this.commits = new GroupCommit((rows) => this.writeBatch(rows));
  }

  ingest(row: IngestRow): Promise<IngestResult> {
    return this.commits.submit(row);
  }

  /** Resolves when no ingest is queued or in flight. */
  idle(): Promise<void> {
    return this.commits.idle();
  }

  /**
   * One transaction for the whole batch, rows decided in arrival order as if
   * they had come one by one: a duplicate id (stored before, or earlier in
   * this batch) is "duplicate"; a row that would take the recipient past its
   * quota is "over_quota" and writes nothing. Seqs are issued in arrival order.
   */
  private writeBatch(rows: readonly IngestRow[]): Promise<ItemOutcome<IngestResult>[]> {
    return this.db.transaction(async (trx) => {
      await lockCursorWriters(trx, this.engine, LOCK_INGEST);

      // The unique id claims the envelope first, one statement for the batch (no read before it):
      // an id not claimed here was stored before, or claimed meanwhile by another writer (another
      // server process on PostgreSQL). Claims of rows then refused are given back below.
      const claimed = new Set<string>();
      const firsts = new Map<string, IngestRow>();
      for (const row of rows) if (!firsts.has(row.envelopeId)) firsts.set(row.envelopeId, row);
      for (const part of chunks([...firsts.values()])) {
        const ids = await trx<SeenRow>("seen_envelope_ids")
          .insert(part.map((row) => ({ envelope_id: row.envelopeId, expires_at: row.expiresAt })))
          .onConflict("envelope_id")
          .ignore()
          .returning("envelope_id");
        for (const r of ids as { envelope_id: string }[]) claimed.add(r.envelope_id);
      }

      // Quota and stored bytes per recipient (a counter kept by ingest, ack and expire).
      const space = new Map<string, { quota: number; used: number }>();
      for (const addresses of chunks(unique(rows.map((r) => r.recipient)))) {
        const accounts = await trx("accounts")
          .whereIn("address", addresses)
          .select("address", "quota_bytes", "mailbox_bytes");
        for (const a of accounts as { address: string; quota_bytes: Int; mailbox_bytes: Int }[]) {
          space.set(a.address, { quota: num(a.quota_bytes), used: num(a.mailbox_bytes) });
        }
      }

      // Decide every row in arrival order first, then write the stored ones with
      // a few multi-row statements: one round of statements per batch, not per row.
      const outcomes: ItemOutcome<IngestResult>[] = [];
      const toStore: { index: number; row: IngestRow; devices: string[] }[] = [];
      /** Ids stored by this batch: a later row with one is a duplicate. */
      const taken = new Set<string>();
      for (const [index, row] of rows.entries()) {
        if (!claimed.has(row.envelopeId) || taken.has(row.envelopeId)) {
          outcomes.push({ ok: true, value: { status: "duplicate" } });
          continue;
        }
        // Caller errors reject that caller only; the rest of the batch commits.
        const s = space.get(row.recipient);
        if (!s) {
          outcomes.push({
            ok: false,
            error: new Error(`store: ingest for unknown recipient ${row.recipient}`),
          });
          continue;
        }
        const devices = unique(row.devices);
        if (devices.length === 0) {
          outcomes.push({ ok: false, error: new Error("store: ingest with no recipient devices") });
          continue;
        }
        if (s.used + row.inner.length > s.quota) {
          outcomes.push({ ok: true, value: { status: "over_quota" } });
          continue;
        }
        taken.add(row.envelopeId);
        s.used += row.inner.length;
        outcomes.push({ ok: true, value: { status: "duplicate" } }); // replaced below once stored
        toStore.push({ index, row, devices });
      }
      // A refused row's id stays free: the same envelope may come again once there is room.
      const refused = [...claimed].filter((id) => !taken.has(id));
      for (const part of chunks(refused)) await trx("seen_envelope_ids").whereIn("envelope_id", part).del();
      const stored = toStore;
      const seqs = new Map<string, number>();
      for (const part of chunks(stored, 200)) {
        const inserted = await trx<EnvelopeRow>("envelopes")
          .insert(
            part.map(({ row }) => ({
              envelope_id: row.envelopeId,
              recipient: row.recipient,
              inner: row.inner,
              size: row.inner.length,
              expires_at: row.expiresAt,
              received_at: row.receivedAt,
            })),
          )
          .returning(["seq", "envelope_id"]);
        for (const r of inserted as { seq: Int; envelope_id: string }[]) seqs.set(r.envelope_id, num(r.seq));
      }
      const deliveries: DeliveryRow[] = [];
      const added = new Map<string, number>();
      for (const { index, row, devices } of stored) {
        const seq = seqs.get(row.envelopeId);
        if (seq === undefined) throw new Error("store: envelope insert returned no seq");
        for (const device of devices) deliveries.push({ envelope_seq: seq, address: row.recipient, device });
        added.set(row.recipient, (added.get(row.recipient) ?? 0) + row.inner.length);
        outcomes[index] = { ok: true, value: { status: "stored", seq } };
      }
      for (const part of chunks(deliveries)) await trx<DeliveryRow>("deliveries").insert(part);
      for (const [address, bytes] of added) {
        await trx("accounts").where("address", address).increment("mailbox_bytes", bytes);
      }
      if (this.notifyOrigin !== undefined && this.engine === "postgres" && stored.length > 0) {
        // Delivered at commit, to listeners only: a rolled-back batch hints nothing.
        const origin = this.notifyOrigin;
        const payloads = stored.flatMap(({ row, devices }) =>
          formatMailHint({ origin, address: row.recipient, devices }),
        );
        for (const part of chunks(payloads)) {
          await trx.raw("select pg_notify(?, p) from unnest(?::text[]) as p", [MAIL_HINT_CHANNEL, part]);
        }
      }
      return outcomes;
    });
  }

  async pending(address: string, device: string, afterSeq: number, limit: number): Promise<StoredEnvelope[]> {
    const rows = await this.db("deliveries as d")
      .join("envelopes as e", "e.seq", "d.envelope_seq")
      .where("d.address", address)
      .andWhere("d.device", device)
      .andWhere("d.envelope_seq", ">", afterSeq)
      .orderBy("d.envelope_seq", "asc")
      .limit(limit)
      .select("e.seq", "e.envelope_id", "e.recipient", "e.inner", "e.expires_at", "e.received_at");
    return (rows as Omit<EnvelopeRow, "size">[]).map(toEnvelope);
  }

  ack(address: string, device: string, envelopeIds: string[]): Promise<number> {
    return this.db.transaction(async (trx) => {
      let acked = 0;
      for (const ids of chunks(unique(envelopeIds))) {
        // On PostgreSQL, lock the envelopes so that two devices acking the same
        // envelope at once serialize and the second sees it has no deliveries left.
        let query = trx<EnvelopeRow>("envelopes")
          .whereIn("envelope_id", ids)
          .andWhere("recipient", address)
          .orderBy("seq", "asc") // one lock order for all acks
          .select("seq");
        if (this.engine === "postgres") query = query.forUpdate();
        const seqs = (await query).map((r) => num(r.seq));
        if (seqs.length === 0) continue;
        acked += await trx<DeliveryRow>("deliveries")
          .whereIn("envelope_seq", seqs)
          .andWhere("address", address)
          .andWhere("device", device)
          .del();
        const done = trx("envelopes")
          .whereIn("seq", seqs)
          .whereNotExists(
            trx("deliveries").select("envelope_seq").where("envelope_seq", trx.ref("envelopes.seq")),
          );
        // The freed sizes come back from the delete itself (one statement, not a sum and a delete).
        const del = done.del().returning("size");
        // knex's SQLite compiler leaves RETURNING off a delete (SQLite has it since 3.35): added here.
        const sql = del.toSQL();
        const freed = (
          this.engine === "postgres"
            ? await del
            : await trx.raw(`${sql.sql} returning \`size\``, [...sql.bindings])
        ) as { size: Int }[];
        const bytes = freed.reduce((sum, r) => sum + num(r.size), 0);
        if (bytes > 0) await trx("accounts").where("address", address).decrement("mailbox_bytes", bytes);
      }
      return acked;
    });
  }

  expire(now: number): Promise<number> {
    return this.db.transaction(async (trx) => {
      if (this.engine === "postgres") {
        // One expiry at a time across the processes of a domain, and the rows locked in seq order
        // as ack locks them, so an envelope acked meanwhile is not subtracted from the quota twice.
        await lockCursorWriters(trx, this.engine, LOCK_EXPIRE);
        await trx("envelopes").where("expires_at", "<=", now).orderBy("seq", "asc").select("seq").forUpdate();
      }
      const freed = (await trx("envelopes")
        .where("expires_at", "<=", now)
        .groupBy("recipient")
        .select("recipient")
        .sum({ bytes: "size" })) as { recipient: string; bytes: Int | null }[];
      for (const f of freed) {
        await trx("accounts").where("address", f.recipient).decrement("mailbox_bytes", num(f.bytes));
      }
      // Deliveries go with their envelope (ON DELETE CASCADE).
      const deleted = await trx("envelopes").where("expires_at", "<=", now).del();
      await trx("seen_envelope_ids").where("expires_at", "<=", now).del();
      return deleted;
    });
  }

  async waitingRecipients(): Promise<string[]> {
    const rows = (await this.db("deliveries").distinct("address")) as { address: string }[];
    return rows.map((r) => r.address);
  }

  async depth(): Promise<number> {
    // An envelope exists only while some device still waits for it.
    const row = await this.db("envelopes").count({ n: "*" }).first();
    return num(row?.n);
  }
}
