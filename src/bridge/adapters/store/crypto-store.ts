// crypto_identities and crypto_pending_events (migration 006-crypto).
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { CryptoIdentityRecord, CryptoStore, PendingEncryptedEvent } from "../../core/ports/store.js";
import { KnexCryptoRecordStore } from "./crypto-record-store.js";

interface IdentityRow {
  user_id: string;
  device_id: string;
  snapshot: Buffer | Uint8Array;
  saved_at: number | string;
}

interface PendingRow {
  event_id: string;
  room_id: string;
  session_id: string;
  event_json: string;
  received_at: number | string;
}

export class KnexCryptoStore extends KnexCryptoRecordStore implements CryptoStore {
  constructor(db: Knex) {
    super(db);
  }

  async getIdentity(userId: string): Promise<CryptoIdentityRecord | undefined> {
    const row = await this.db<IdentityRow>("crypto_identities").where("user_id", userId).first();
    return row && toRecord(row);
  }

  async listIdentities(): Promise<CryptoIdentityRecord[]> {
    const rows = await this.db<IdentityRow>("crypto_identities").orderBy("user_id");
    return rows.map(toRecord);
  }

  async putIdentity(r: CryptoIdentityRecord): Promise<void> {
    await this.db<IdentityRow>("crypto_identities")
      .insert({ user_id: r.userId, device_id: r.deviceId, snapshot: r.snapshot, saved_at: r.savedAt })
      .onConflict("user_id")
      .merge();
  }

  async deleteIdentity(userId: string): Promise<void> {
    await this.db.transaction(async (trx) => {
      for (const table of ["crypto_records", "crypto_tracked_users", "crypto_device_changes"])
        await trx(table).where("user_id", userId).del();
      await trx("crypto_room_identities").where("user_id", userId).del();
      await trx("crypto_identities").where("user_id", userId).del();
    });
  }

  async getSyncToken(userId: string): Promise<string | undefined> {
    const row = await this.db<{ sync_token: string | null }>("crypto_identities")
      .select("sync_token")
      .where("user_id", userId)
      .first();
    return row?.sync_token ?? undefined;
  }

  async putSyncToken(userId: string, token: string): Promise<void> {
    await this.db("crypto_identities").where("user_id", userId).update({ sync_token: token });
  }

  async putPending(e: PendingEncryptedEvent): Promise<boolean> {
    const inserted = await this.db<PendingRow>("crypto_pending_events")
      .insert({
        event_id: e.eventId,
        room_id: e.roomId,
        session_id: e.sessionId,
        event_json: e.eventJson,
        received_at: e.receivedAt,
      })
      .onConflict("event_id")
      .ignore()
      .returning("event_id");
    return inserted.length > 0;
  }

  async pendingForSessions(sessionIds: readonly string[]): Promise<PendingEncryptedEvent[]> {
    if (sessionIds.length === 0) return [];
    const rows = await this.db<PendingRow>("crypto_pending_events")
      .whereIn("session_id", [...sessionIds])
      .orderBy("received_at");
    return rows.map(toPending);
  }

  async allPending(): Promise<PendingEncryptedEvent[]> {
    return (await this.db<PendingRow>("crypto_pending_events").orderBy("received_at")).map(toPending);
  }

  async removePending(eventId: string): Promise<void> {
    await this.db("crypto_pending_events").where("event_id", eventId).del();
  }
}

function toRecord(row: IdentityRow): CryptoIdentityRecord {
  return {
    userId: row.user_id,
    deviceId: row.device_id,
    snapshot: Buffer.from(row.snapshot),
    savedAt: num(row.saved_at),
  };
}

function toPending(row: PendingRow): PendingEncryptedEvent {
  return {
    eventId: row.event_id,
    roomId: row.room_id,
    sessionId: row.session_id,
    eventJson: row.event_json,
    receivedAt: num(row.received_at),
  };
}
