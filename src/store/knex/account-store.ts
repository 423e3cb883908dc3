// Accounts, their signed device lists, device certificate chains and the key
// ids that route wraps to devices. A device-list update replaces devices and
// keys whole, in one transaction, and only for a strictly newer version.

import type { Knex } from "knex";
import type { AccountRecord, AccountStore, AccountSummary, DeviceKeyRecord, DeviceRecord } from "../types.js";
import { chunks, nullableNum, num, unique } from "./sql-values.js";

type Int = number | string;

interface AccountRow {
  address: string;
  account_key: string;
  device_list_json: string;
  device_list_version: Int;
  profile_json: string | null;
  profile_updated_at?: Int | null;
  quota_bytes: Int;
  created_at: Int;
}

interface DeviceRow {
  address: string;
  device: string;
  chain_json: string;
  head_seq: Int;
  sign_key: string;
  revoked_at: Int | null;
}

interface DeviceKeyRow {
  key_id: string;
  address: string;
  device: string;
  seq: Int;
}

function toAccount(r: AccountRow): AccountRecord {
  return {
    address: r.address,
    accountKey: r.account_key,
    deviceListJson: r.device_list_json,
    deviceListVersion: num(r.device_list_version),
    profileJson: r.profile_json,
    quotaBytes: num(r.quota_bytes),
    createdAt: num(r.created_at),
  };
}

function toDevice(r: DeviceRow): DeviceRecord {
  return {
    address: r.address,
    device: r.device,
    chainJson: r.chain_json,
    headSeq: num(r.head_seq),
    signKey: r.sign_key,
    revokedAt: nullableNum(r.revoked_at),
  };
}

/** Devices and keys always belong to the account being written, whatever the records say. */
function deviceRows(address: string, devices: DeviceRecord[]): DeviceRow[] {
  return devices.map((d) => ({
    address,
    device: d.device,
    chain_json: d.chainJson,
    head_seq: d.headSeq,
    sign_key: d.signKey,
    revoked_at: d.revokedAt,
  }));
}

function keyRows(address: string, keys: DeviceKeyRecord[]): DeviceKeyRow[] {
  return keys.map((k) => ({ key_id: k.keyId, address, device: k.device, seq: k.seq }));
}

async function writeDevices(
  trx: Knex.Transaction,
  address: string,
  devices: DeviceRecord[],
  keys: DeviceKeyRecord[],
): Promise<void> {
  for (const part of chunks(deviceRows(address, devices))) await trx<DeviceRow>("devices").insert(part);
  for (const part of chunks(keyRows(address, keys))) await trx<DeviceKeyRow>("device_keys").insert(part);
}

export class KnexAccountStore implements AccountStore {
  constructor(private readonly db: Knex) {}

  create(
    record: AccountRecord,
    devices: DeviceRecord[],
    keys: DeviceKeyRecord[],
  ): Promise<"created" | "exists"> {
    return this.db.transaction(async (trx) => {
      // The primary key decides a registration race: one insert wins, the other is "exists".
      const inserted = await trx<AccountRow>("accounts")
        .insert({
          address: record.address,
          account_key: record.accountKey,
          device_list_json: record.deviceListJson,
          device_list_version: record.deviceListVersion,
          profile_json: record.profileJson,
          quota_bytes: record.quotaBytes,
          created_at: record.createdAt,
        })
        .onConflict("address")
        .ignore()
        .returning("address");
      if (inserted.length === 0) return "exists";
      await writeDevices(trx, record.address, devices, keys);
      return "created";
    });
  }

  async get(address: string): Promise<AccountRecord | undefined> {
    const row = await this.db<AccountRow>("accounts").where("address", address).first();
    return row ? toAccount(row) : undefined;
  }

  updateDevices(
    address: string,
    list: { json: string; version: number },
    devices: DeviceRecord[],
    keys: DeviceKeyRecord[],
  ): Promise<"updated" | "stale"> {
    return this.db.transaction(async (trx) => {
      // A conditional update: of two concurrent updates with the same version,
      // the row lock makes the second re-check the condition and find it stale.
      const changed = await trx<AccountRow>("accounts")
        .where("address", address)
        .andWhere("device_list_version", "<", list.version)
        .update({ device_list_json: list.json, device_list_version: list.version });
      if (changed === 0) {
        const exists = await trx<AccountRow>("accounts").where("address", address).first("address");
        if (!exists) throw new Error(`store: no account ${address}`);
        return "stale";
      }
      await trx("device_keys").where("address", address).del();
      await trx("devices").where("address", address).del();
      await writeDevices(trx, address, devices, keys);
      return "updated";
    });
  }

  async setProfile(
    address: string,
    profileJson: string,
    updatedAt: number,
  ): Promise<"updated" | "same" | "stale"> {
    // A conditional update, as for device lists: of two concurrent puts, the row lock makes the
    // second re-check the condition, so an older profile never replaces a newer one.
    const changed = await this.db<AccountRow>("accounts")
      .where("address", address)
      .andWhere((q) => q.whereNull("profile_updated_at").orWhere("profile_updated_at", "<", updatedAt))
      .update({ profile_json: profileJson, profile_updated_at: updatedAt });
    if (changed > 0) return "updated";
    const row = await this.db<AccountRow>("accounts").where("address", address).first("profile_json");
    if (!row) throw new Error(`store: no account ${address}`);
    return row.profile_json === profileJson ? "same" : "stale";
  }

  async devices(address: string): Promise<DeviceRecord[]> {
    const rows = await this.db<DeviceRow>("devices").where("address", address).orderBy("device", "asc");
    return rows.map(toDevice);
  }

  async device(address: string, device: string): Promise<DeviceRecord | undefined> {
    const row = await this.db<DeviceRow>("devices").where({ address, device }).first();
    return row ? toDevice(row) : undefined;
  }

  async devicesForKeyIds(address: string, keyIds: string[]): Promise<string[]> {
    const found = new Set<string>();
    for (const ids of chunks(unique(keyIds))) {
      const rows = await this.db<DeviceKeyRow>("device_keys")
        .where("address", address)
        .whereIn("key_id", ids)
        .distinct("device");
      for (const r of rows) found.add(r.device);
    }
    return [...found].sort();
  }

  /** Bytes of envelopes stored for the address: what its mailbox quota counts. */
  async usedBytes(address: string): Promise<number> {
    const row = (await this.db("accounts").where("address", address).select("mailbox_bytes").first()) as
      { mailbox_bytes: Int } | undefined;
    return num(row?.mailbox_bytes);
  }

  async count(): Promise<number> {
    const row = await this.db("accounts").count({ n: "*" }).first();
    return num(row?.n);
  }

  async list(after: string | null, limit: number): Promise<AccountSummary[]> {
    let q = this.db("accounts as a")
      .select("a.address", "a.created_at")
      .count({ devices: "d.device" })
      .leftJoin("devices as d", function () {
        this.on("d.address", "=", "a.address").andOnNull("d.revoked_at");
      })
      .groupBy("a.address", "a.created_at")
      .orderBy("a.address", "asc")
      .limit(limit);
    if (after !== null) q = q.where("a.address", ">", after);
    const rows = (await q) as { address: string; created_at: Int; devices: Int }[];
    return rows.map((r) => ({ address: r.address, createdAt: num(r.created_at), devices: num(r.devices) }));
  }
}
