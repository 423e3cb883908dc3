// Accounts and their device lists. The server checks everything the account
// key signed before storing it, and stores exactly what was signed: it can
// refuse a list, never edit one, so it cannot add a device to anyone.
import { z } from "zod";
import { PeopleError } from "../errors.js";
import { addressDomain, type PeopleAddress } from "../protocol/address.js";
import { parseDeviceCert, deviceCertWireSchema, type DeviceCert } from "../protocol/device-cert.js";
import type { PinnedHead } from "../protocol/device-chain.js";
import {
  deviceListWireSchema,
  parseDeviceList,
  verifyDeviceList,
  MAX_DEVICES,
  type VerifiedAccount,
} from "../protocol/device-list.js";
import { parseDeviceId, type DeviceId } from "../protocol/ids.js";
import { Ed25519PublicKey } from "../protocol/keys.js";
import type { DeviceKeyRecord, DeviceRecord, PeopleStore } from "../../store/types.js";

export const deviceUploadSchema = z.strictObject({
  device_list: deviceListWireSchema,
  chains: z.record(z.string().max(64), z.array(deviceCertWireSchema).min(1).max(4096)),
});
export type DeviceUpload = z.infer<typeof deviceUploadSchema>;

export class AccountService {
  private readonly deviceListeners: ((address: PeopleAddress) => void)[] = [];

  constructor(
    private readonly domain: string,
    private readonly store: PeopleStore,
    private readonly quotaBytes: number,
  ) {}

  /** Called after an account's device list changed (caches keyed on devices drop their entries). */
  onDevicesChanged(listener: (address: PeopleAddress) => void): void {
    this.deviceListeners.push(listener);
  }

  /** Register a new account from its account-signed device list (the first list pins its account key). */
  async register(address: PeopleAddress, upload: DeviceUpload, now: number): Promise<"created" | "exists"> {
    if (addressDomain(address) !== this.domain)
      throw new PeopleError("PEOPLE_FORBIDDEN", "address of another domain");
    const verified = this.verify(address, upload);
    const list = verified.list;
    return this.store.accounts.create(
      {
        address,
        accountKey: list.accountKey.toB64u(),
        deviceListJson: JSON.stringify(list.wire),
        deviceListVersion: list.version,
        profileJson: null,
        quotaBytes: this.quotaBytes,
        createdAt: now,
      },
      ...records(address, verified, new Map()),
    );
  }

  /** Publish a new device list (rotation, a new device, a revocation): it must extend what is stored. */
  async updateDevices(address: PeopleAddress, upload: DeviceUpload): Promise<void> {
    const account = await this.store.accounts.get(address);
    if (!account) throw new PeopleError("PEOPLE_UNKNOWN_RECIPIENT", "no such account");
    const stored = await this.store.accounts.devices(address);
    const heads = new Map<DeviceId, PinnedHead>();
    for (const d of stored) {
      if (d.revokedAt !== null) continue;
      const chain = (JSON.parse(d.chainJson) as unknown[]).map(parseDeviceCert);
      const head = chain[chain.length - 1]!;
      heads.set(head.device, { seq: head.seq, hash: head.hash });
    }
    const verified = this.verify(address, upload, {
      accountKey: Ed25519PublicKey.fromB64u(account.accountKey),
      version: account.deviceListVersion + 1,
      heads,
    });
    for (const d of stored) {
      if (d.revokedAt !== null && verified.chains.has(d.device as DeviceId)) {
        throw new PeopleError("PEOPLE_REVOKED", "a revoked device cannot come back");
      }
    }
    const revokedAt = new Map(verified.list.revoked.map((r) => [r.device, r.at]));
    for (const d of stored) {
      if (!verified.chains.has(d.device as DeviceId) && !revokedAt.has(d.device as DeviceId)) {
        // Dropping a device silently would hide a compromise: it must be revoked in the signed list.
        throw new PeopleError("PEOPLE_CHAIN_INVALID", "a device disappeared without a revocation");
      }
    }
    const [devices, keys] = records(address, verified, revokedAt, stored);
    const result = await this.store.accounts.updateDevices(
      address,
      { json: JSON.stringify(verified.list.wire), version: verified.list.version },
      devices,
      keys,
    );
    if (result === "stale") throw new PeopleError("PEOPLE_CHAIN_FORK", "device list version is not newer");
    for (const device of revokedAt.keys()) await this.store.tokens.deleteForDevice(address, device);
    for (const listener of this.deviceListeners) listener(address);
  }

  private verify(
    address: PeopleAddress,
    upload: DeviceUpload,
    pinned?: { accountKey: Ed25519PublicKey; version: number; heads: Map<DeviceId, PinnedHead> },
  ): VerifiedAccount {
    const list = parseDeviceList(upload.device_list);
    if (list.devices.length === 0)
      throw new PeopleError("PEOPLE_CHAIN_INVALID", "a device list needs a device");
    if (Object.keys(upload.chains).length > MAX_DEVICES)
      throw new PeopleError("PEOPLE_CHAIN_INVALID", "too many chains");
    const chains = new Map<DeviceId, DeviceCert[]>();
    for (const [device, certs] of Object.entries(upload.chains)) {
      chains.set(parseDeviceId(device, "PEOPLE_CHAIN_INVALID"), certs.map(parseDeviceCert));
    }
    const verified = verifyDeviceList(list, chains, { address, ...(pinned ? { pinned } : {}) });
    // Stored chains are what first-time contacts verify, so they must be whole.
    for (const chain of verified.chains.values()) {
      if (chain.certs[0]!.seq !== 0)
        throw new PeopleError("PEOPLE_CHAIN_GAP", "upload the whole chain, from seq 0");
    }
    return verified;
  }
}

function records(
  address: PeopleAddress,
  verified: VerifiedAccount,
  revokedAt: Map<DeviceId, number>,
  previous: DeviceRecord[] = [],
): [DeviceRecord[], DeviceKeyRecord[]] {
  const devices: DeviceRecord[] = [];
  const keys: DeviceKeyRecord[] = [];
  for (const [device, chain] of verified.chains) {
    devices.push({
      address,
      device,
      chainJson: JSON.stringify(chain.certs.map((c) => c.wire)),
      headSeq: chain.head.seq,
      signKey: chain.head.signKey.toB64u(),
      revokedAt: null,
    });
    for (const cert of chain.certs) {
      keys.push({ keyId: cert.encKey.id.toString("hex"), address, device, seq: cert.seq });
    }
  }
  for (const old of previous) {
    const at = revokedAt.get(old.device as DeviceId);
    if (at !== undefined) devices.push({ ...old, revokedAt: old.revokedAt ?? at });
  }
  return [devices, keys];
}
