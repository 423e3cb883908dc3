// crypto_records, crypto_tracked_users, crypto_device_changes and
// crypto_room_identities (migration 018-crypto-records): the per-record state
// of the crypto machines and the indexes that let them stay unloaded.
import type { Knex } from "knex";
import type { CryptoRecordStore, CryptoSave, DeviceListChange } from "../../core/ports/store.js";

/** Rows per insert statement (well under SQLite's bound on variables). */
const CHUNK = 200;

function chunks<T>(xs: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += CHUNK) out.push(xs.slice(i, i + CHUNK));
  return out;
}

export class KnexCryptoRecordStore implements CryptoRecordStore {
  constructor(protected readonly db: Knex) {}

  async loadRecords(userId: string): Promise<{ rkey: string; sealed: Buffer }[]> {
    const rows = await this.db<{ rkey: string; sealed: Buffer | Uint8Array }>("crypto_records")
      .select("rkey", "sealed")
      .where("user_id", userId);
    return rows.map((r) => ({ rkey: r.rkey, sealed: Buffer.from(r.sealed) }));
  }

  async save(userId: string, s: CryptoSave): Promise<void> {
    await this.db.transaction(async (trx) => {
      for (const part of chunks(s.put))
        await trx("crypto_records")
          .insert(part.map((r) => ({ user_id: userId, rkey: r.rkey, sealed: r.sealed })))
          .onConflict(["user_id", "rkey"])
          .merge();
      for (const part of chunks(s.del))
        await trx("crypto_records").where("user_id", userId).whereIn("rkey", part).del();
      for (const part of chunks(s.track))
        await trx("crypto_tracked_users")
          .insert(part.map((u) => ({ user_id: userId, tracked_user_id: u })))
          .onConflict(["user_id", "tracked_user_id"])
          .ignore();
      for (const part of chunks(s.untrack))
        await trx("crypto_tracked_users").where("user_id", userId).whereIn("tracked_user_id", part).del();
      if (s.dropSnapshot)
        await trx("crypto_identities")
          .where("user_id", userId)
          .update({ snapshot: Buffer.alloc(0) });
      if (s.savedAt !== undefined)
        await trx("crypto_identities").where("user_id", userId).update({ saved_at: s.savedAt });
    });
  }

  async trackersOf(users: readonly string[]): Promise<{ userId: string; tracked: string }[]> {
    const out: { userId: string; tracked: string }[] = [];
    for (const part of chunks([...new Set(users)])) {
      const rows = await this.db<{ user_id: string; tracked_user_id: string }>("crypto_tracked_users")
        .select("user_id", "tracked_user_id")
        .whereIn("tracked_user_id", part);
      for (const r of rows) out.push({ userId: r.user_id, tracked: r.tracked_user_id });
    }
    return out;
  }

  async queueDeviceChanges(changes: readonly DeviceListChange[]): Promise<void> {
    for (const part of chunks(changes))
      await this.db("crypto_device_changes")
        .insert(part.map((c) => ({ user_id: c.userId, changed_user_id: c.changed, left: c.left ? 1 : 0 })))
        .onConflict(["user_id", "changed_user_id"])
        .merge();
  }

  async queuedDeviceChanges(userId: string): Promise<DeviceListChange[]> {
    const rows = await this.db<{ changed_user_id: string; left: number | boolean }>("crypto_device_changes")
      .select("changed_user_id", "left")
      .where("user_id", userId);
    return rows.map((r) => ({ userId, changed: r.changed_user_id, left: Number(r.left) === 1 }));
  }

  async clearDeviceChanges(userId: string, changed: readonly string[]): Promise<void> {
    for (const part of chunks(changed))
      await this.db("crypto_device_changes").where("user_id", userId).whereIn("changed_user_id", part).del();
  }

  async addRoomIdentity(roomId: string, userId: string): Promise<void> {
    await this.db("crypto_room_identities")
      .insert({ room_id: roomId, user_id: userId })
      .onConflict(["room_id", "user_id"])
      .ignore();
  }

  async roomIdentities(roomId: string): Promise<string[]> {
    const rows = await this.db<{ user_id: string }>("crypto_room_identities")
      .select("user_id")
      .where("room_id", roomId);
    return rows.map((r) => r.user_id);
  }

  async listIdentityIds(): Promise<{ userId: string; deviceId: string }[]> {
    const rows = await this.db<{ user_id: string; device_id: string }>("crypto_identities")
      .select("user_id", "device_id")
      .orderBy("user_id");
    return rows.map((r) => ({ userId: r.user_id, deviceId: r.device_id }));
  }
}
