// Contacts' devices (PROTOCOL §6.4). On first use the account-signed device
// list is verified and pinned (account key, version, every device's head);
// later lists must be valid continuations of the pin. Anything else — another
// account key, a lower version, a fork, a gap, a bad signature — is an
// unexplained change: the old pin is kept, the new keys are not used, an event
// is raised, and only acceptKeyChange() (an explicit user action) re-pins.
import { z } from "zod";
import { PeopleError } from "../errors.js";
import type { HttpsClient } from "../net/https-client.js";
import { addressDomain, type PeopleAddress } from "../protocol/address.js";
import { deviceCertWireSchema, parseDeviceCert, type DeviceCert } from "../protocol/device-cert.js";
import { certValidAt, type PinnedHead } from "../protocol/device-chain.js";
import {
  deviceListWireSchema,
  parseDeviceList,
  verifyDeviceList,
  type PinnedAccount,
  type VerifiedAccount,
} from "../protocol/device-list.js";
import { parseDeviceId, type DeviceId } from "../protocol/ids.js";
import { Ed25519PublicKey, type X25519PublicKey } from "../protocol/keys.js";
import type { Discovery } from "../net/discovery.js";
import type { ClientEvents } from "./events.js";
import type { ClientStore, ContactRecord, DeviceLists } from "./local-store.js";
import { KeyedLock } from "../../shared/keyed-lock.js";
import { isTransient } from "../transient.js";

/**
 * How long a fetched device list is used to verify incoming mail without asking
 * again. Sealing asks every time by default ("fresh when online"), so a new
 * device of a contact is included at once.
 */
export const CONTACT_MAX_AGE_MS = 30_000;

export type ContactStatus = "new" | "unchanged" | "continued" | "unexplained";

export interface ContactDevice {
  device: DeviceId;
  head: DeviceCert;
  certs: readonly DeviceCert[];
}

export interface Contact {
  address: PeopleAddress;
  accountKey: Ed25519PublicKey;
  version: number;
  verified: boolean;
  state: "trusted" | "unexplained";
  /** The pinned (trusted) view; while `state` is "unexplained" it is not used to seal or verify. */
  devices: ContactDevice[];
  revoked: { device: DeviceId; at: number }[];
  lastChange: number;
  fetchedAt: number;
}

export interface Resolution {
  status: ContactStatus;
  contact: Contact;
  /** The saved view, because the contact's server could not be reached. */
  stale: boolean;
}

const devicesAnswer = z.object({
  device_list: deviceListWireSchema,
  chains: z.record(z.string().max(64), z.array(deviceCertWireSchema).min(1).max(4096)),
});

/** GET an account's device list and chains (unverified: see verifyLists). */
export async function fetchDeviceLists(
  http: Pick<HttpsClient, "json">,
  serverUrl: string,
  address: PeopleAddress,
): Promise<DeviceLists> {
  const json = await http.json(
    "GET",
    `${serverUrl}/_people/v1/accounts/${encodeURIComponent(address)}/devices`,
  );
  const parsed = devicesAnswer.safeParse(json);
  if (!parsed.success) throw new PeopleError("PEOPLE_CHAIN_INVALID", "device list answer is malformed");
  return { list: parsed.data.device_list, chains: parsed.data.chains };
}

export function verifyLists(
  address: PeopleAddress,
  lists: DeviceLists,
  pinned?: PinnedAccount,
): VerifiedAccount {
  const list = parseDeviceList(lists.list);
  const chains = new Map<DeviceId, DeviceCert[]>();
  for (const [device, certs] of Object.entries(lists.chains)) {
    chains.set(parseDeviceId(device, "PEOPLE_CHAIN_INVALID"), certs.map(parseDeviceCert));
  }
  return verifyDeviceList(list, chains, { address, ...(pinned ? { pinned } : {}) });
}

function pinOf(v: VerifiedAccount): PinnedAccount {
  const heads = new Map<DeviceId, PinnedHead>();
  for (const [device, chain] of v.chains) heads.set(device, { seq: chain.head.seq, hash: chain.head.hash });
  return { accountKey: v.list.accountKey, version: v.list.version, heads };
}

function unexplained(address: string): PeopleError {
  return new PeopleError("PEOPLE_CHAIN_FORK", `keys of ${address} changed in an unexplained way`, {
    publicText: `The keys of ${address} changed in a way their account did not sign. Verify before trusting them.`,
  });
}

export class Directory {
  private readonly lock = new KeyedLock();
  private readonly views = new Map<string, { record: ContactRecord; contact: Contact }>();

  constructor(
    private readonly o: {
      store: ClientStore;
      http: Pick<HttpsClient, "json">;
      discovery: Discovery;
      events: ClientEvents;
      now: () => number;
      /** Verifying: reuse a list fetched this recently (default 30 s). */
      maxAgeMs?: number;
      /** Sealing: reuse a list fetched this recently (default 0: always ask while the server answers). */
      sealMaxAgeMs?: number;
    },
  ) {}

  /** Fetch (unless fetched within `maxAgeMs`) and classify a contact's device list. */
  resolve(address: PeopleAddress, maxAgeMs = 0): Promise<Resolution> {
    return this.lock.run(address, async () => {
      const now = this.o.now();
      const saved = await this.o.store.getContact(address);
      if (saved?.state === "unexplained")
        return { status: "unexplained", contact: this.view(saved), stale: true };
      if (saved && now - saved.fetchedAt < maxAgeMs)
        return { status: "unchanged", contact: this.view(saved), stale: false };
      let lists: DeviceLists;
      try {
        lists = await this.fetch(address);
      } catch (e) {
        if (saved && isTransient(e)) return { status: "unchanged", contact: this.view(saved), stale: true };
        throw e;
      }
      if (!saved) {
        const record = this.record(address, verifyLists(address, lists), lists, now, false);
        await this.save(record);
        return { status: "new", contact: this.view(record), stale: false };
      }
      // Sealing fetches the list for every message. The same lists as the pinned ones (verified
      // when they were saved; the store's copy is authenticated) need no signature checked again.
      const identical = JSON.stringify(lists) === JSON.stringify(saved.pinned);
      const changed = identical ? undefined : this.verifiedChange(address, saved, lists, now);
      if (changed?.status === "unexplained") {
        await this.save(changed.record);
        this.o.events.emit("keyChange", {
          kind: "account",
          subject: address,
          code: changed.error.code,
          detail: changed.error.message,
          at: now,
        });
        return { status: "unexplained", contact: this.view(changed.record), stale: false };
      }
      const verified = changed?.verified;
      const pin = changed?.pin;
      const same = !verified || verified.list.version === saved.version;
      // An unchanged list seen again soon is not written again (a durable write per message, only
      // to move fetchedAt). A fetchedAt that lags only makes the next resolve() fetch sooner.
      if (same && identical && now - saved.fetchedAt < (this.o.maxAgeMs ?? CONTACT_MAX_AGE_MS) / 2) {
        return { status: "unchanged", contact: this.view(saved), stale: false };
      }
      const record: ContactRecord = {
        ...saved,
        version: verified?.list.version ?? saved.version,
        pinned: lists,
        lastChange: same ? saved.lastChange : now,
        fetchedAt: now,
      };
      await this.save(record);
      if (!same && verified && pin) {
        const added: string[] = [];
        const rotated: string[] = [];
        for (const [device, chain] of verified.chains) {
          const before = pin.heads.get(device);
          if (!before) added.push(device);
          else if (before.seq !== chain.head.seq) rotated.push(device);
        }
        const removed = [...pin.heads.keys()].filter((d) => !verified.chains.has(d));
        this.o.events.emit("contactUpdate", {
          address,
          from: saved.version,
          to: verified.list.version,
          added,
          rotated,
          removed,
          at: now,
        });
      }
      return { status: same ? "unchanged" : "continued", contact: this.view(record), stale: false };
    });
  }

  /** Lists that differ from the pinned ones, verified as their continuation (or an unexplained change). */
  private verifiedChange(
    address: PeopleAddress,
    saved: ContactRecord,
    lists: DeviceLists,
    now: number,
  ):
    | { status: "continued"; verified: VerifiedAccount; pin: PinnedAccount }
    | { status: "unexplained"; record: ContactRecord; error: PeopleError } {
    const pin = pinOf(verifyLists(address, saved.pinned));
    try {
      return { status: "continued", verified: verifyLists(address, lists, pin), pin };
    } catch (e) {
      if (!(e instanceof PeopleError)) throw e;
      const record: ContactRecord = {
        ...saved,
        state: "unexplained",
        pending: { ...lists, code: e.code, at: now },
        lastChange: now,
        fetchedAt: now,
      };
      return { status: "unexplained", record, error: e };
    }
  }

  /** The user accepts a contact's new keys (after comparing safety numbers, ideally): re-pin from scratch. */
  acceptKeyChange(address: PeopleAddress): Promise<Resolution> {
    return this.lock.run(address, async () => {
      const saved = await this.o.store.getContact(address);
      let lists: DeviceLists;
      try {
        lists = await this.fetch(address);
      } catch (e) {
        if (!saved?.pending || !isTransient(e)) throw e;
        lists = { list: saved.pending.list, chains: saved.pending.chains };
      }
      const record = this.record(address, verifyLists(address, lists), lists, this.o.now(), false);
      await this.save(record);
      return { status: "new", contact: this.view(record), stale: false };
    });
  }

  /** Pin an account whose key is known for certain (the own account). */
  async pinKnown(address: PeopleAddress, lists: DeviceLists, accountKey: Ed25519PublicKey): Promise<void> {
    const verified = verifyLists(address, lists);
    if (!verified.list.accountKey.equals(accountKey)) throw unexplained(address);
    await this.lock.run(address, () => this.save(this.record(address, verified, lists, this.o.now(), true)));
  }

  /** Remember the newest profile time seen for a contact; false when `updatedAt` is older (a rollback). */
  async noteProfile(address: PeopleAddress, updatedAt: number): Promise<boolean> {
    return this.lock.run(address, async () => {
      const saved = await this.o.store.getContact(address);
      if (!saved) return true;
      if ((saved.profileSeen ?? 0) > updatedAt) return false;
      if (saved.profileSeen !== updatedAt) await this.save({ ...saved, profileSeen: updatedAt });
      return true;
    });
  }

  async setVerified(address: PeopleAddress, verified: boolean): Promise<void> {
    await this.lock.run(address, async () => {
      const saved = await this.o.store.getContact(address);
      if (!saved) throw new PeopleError("PEOPLE_NOT_FOUND", "no such contact");
      if (saved.state === "unexplained") throw unexplained(address);
      await this.save({ ...saved, verified });
    });
  }

  /** The account key of an unexplained change waiting for the user (to compare its safety number first). */
  async pendingAccountKey(address: PeopleAddress): Promise<Ed25519PublicKey | undefined> {
    const saved = await this.o.store.getContact(address);
    return saved?.pending ? parseDeviceList(saved.pending.list).accountKey : undefined;
  }

  async get(address: PeopleAddress): Promise<Contact | undefined> {
    const saved = await this.o.store.getContact(address);
    return saved ? this.view(saved) : undefined;
  }

  /** Encryption keys to seal to: every listed device whose head is valid now. */
  async sealingKeys(address: PeopleAddress, maxAgeMs = this.o.sealMaxAgeMs ?? 0): Promise<ContactDevice[]> {
    const r = await this.resolve(address, maxAgeMs);
    if (r.status === "unexplained") throw unexplained(address);
    const now = this.o.now();
    return r.contact.devices.filter((d) => certValidAt(d.head, now));
  }

  /** The signing key `device` of `address` held at `ts` (PROTOCOL §12.7), fetching the list again if needed. */
  async senderKey(address: PeopleAddress, device: DeviceId, ts: number): Promise<Ed25519PublicKey> {
    let r = await this.resolve(address, this.o.maxAgeMs ?? CONTACT_MAX_AGE_MS);
    let key = r.status === "unexplained" ? undefined : keyAt(r.contact, device, ts);
    if (!key && !r.stale) {
      r = await this.resolve(address, 0);
      key = r.status === "unexplained" ? undefined : keyAt(r.contact, device, ts);
    }
    if (r.status === "unexplained") throw unexplained(address);
    if (r.contact.revoked.some((x) => x.device === device))
      throw new PeopleError("PEOPLE_REVOKED", "sender device revoked");
    // Unknown in the saved list while the sender's server is unreachable: maybe new, so try again later.
    if (!key && r.stale)
      throw new PeopleError("PEOPLE_UNAVAILABLE", "sender's key unknown and its server unreachable");
    if (!key) throw new PeopleError("PEOPLE_UNKNOWN_KEY", "sender device or key not in the verified list");
    return key;
  }

  /** Run `fn` under the contact's lock; move-follow.ts changes records through it and put(). */
  locked<T>(address: PeopleAddress, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(address, fn);
  }

  put(record: ContactRecord): Promise<void> {
    return this.save(record);
  }

  fetchLists(address: PeopleAddress): Promise<DeviceLists> {
    return this.fetch(address);
  }

  private async fetch(address: PeopleAddress): Promise<DeviceLists> {
    return fetchDeviceLists(this.o.http, await this.o.discovery.resolve(addressDomain(address)), address);
  }

  private record(
    address: PeopleAddress,
    verified: VerifiedAccount,
    lists: DeviceLists,
    now: number,
    isVerified: boolean,
  ): ContactRecord {
    return {
      address,
      accountKey: verified.list.accountKey.toB64u(),
      version: verified.list.version,
      pinned: lists,
      verified: isVerified,
      state: "trusted",
      pending: null,
      lastChange: now,
      fetchedAt: now,
    };
  }

  private async save(record: ContactRecord): Promise<void> {
    await this.o.store.putContact(record);
    this.views.delete(record.address);
  }

  /** The pinned view, parsed once per record (the store's copy is authenticated, so it is not re-verified). */
  private view(record: ContactRecord): Contact {
    const hit = this.views.get(record.address);
    if (hit && hit.record === record) return hit.contact;
    if (hit && JSON.stringify(hit.record) === JSON.stringify(record)) return hit.contact;
    const address = record.address as PeopleAddress;
    const list = parseDeviceList(record.pinned.list);
    const devices = list.devices.map((entry) => {
      const certs = (record.pinned.chains[entry.device] ?? []).map(parseDeviceCert);
      return { device: entry.device, head: certs[certs.length - 1]!, certs };
    });
    const contact: Contact = {
      address,
      accountKey: Ed25519PublicKey.fromB64u(record.accountKey),
      version: record.version,
      verified: record.verified,
      state: record.state,
      devices,
      revoked: list.revoked,
      lastChange: record.lastChange,
      fetchedAt: record.fetchedAt,
    };
    this.views.set(record.address, { record, contact });
    return contact;
  }
}

/** Newest certificate of `device` whose validity contains `ts`. */
function keyAt(contact: Contact, device: DeviceId, ts: number): Ed25519PublicKey | undefined {
  const d = contact.devices.find((x) => x.device === device);
  if (!d) return undefined;
  for (let i = d.certs.length - 1; i >= 0; i--) {
    const cert = d.certs[i]!;
    if (cert.notBefore <= ts && ts < cert.notAfter) return cert.signKey;
  }
  return undefined;
}

export function encryptionKeys(devices: readonly ContactDevice[]): X25519PublicKey[] {
  return devices.map((d) => d.head.encKey);
}
