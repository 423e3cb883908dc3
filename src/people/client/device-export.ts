// `people export` / `people import` (PROTOCOL §20.6): a device's whole account
// — its secrets (the account key, its device keys, retired keys still in their
// grace period), its contacts with their pins and trust, its groups with their
// keys, and its history — sealed under a passphrase (device-archive.ts), to be
// restored on a new machine as the SAME device. Two live copies of one device
// would race for its mailbox and fork its key chain, so exporting retires the
// exported store: it no longer opens (Account.load refuses it) once the archive
// is written. Import decrypts and validates everything before it creates the
// new store, so a wrong passphrase or a bad file leaves nothing behind.
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { PeopleError } from "../errors.js";
import { parseAddress } from "../protocol/address.js";
import { DeviceIdentity } from "../protocol/device-identity.js";
import { contentSchema } from "../protocol/messages.js";
import { closeCore, openCore, type ClientOptions } from "./client-core.js";
import { openArchive, sealArchive } from "./device-archive.js";
import { CLIENT_DB_FILE } from "./local-store-sqlite.js";
import type {
  ContactRecord,
  GroupKeyRecord,
  GroupRecord,
  StoredIdentity,
  StoredMessage,
} from "./local-store.js";

const str = z.string().max(1 << 20);
const int = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const deviceLists = z.object({
  list: z.object({ body: str, sig: str }).passthrough(),
  chains: z.record(str, z.array(z.unknown())),
});

// The archive is authenticated by the passphrase, so these check shape, not signatures (as the store's own copy).
const archiveSchema = z.strictObject({
  v: z.literal(1),
  exported_at: int,
  identity: z
    .object({
      address: str,
      device: z.object({}).passthrough(),
      accountSeed: str,
      publishPending: z.boolean(),
    })
    .passthrough(),
  contacts: z
    .array(
      z
        .object({
          address: str,
          accountKey: str,
          version: int,
          pinned: deviceLists,
          verified: z.boolean(),
          state: z.enum(["trusted", "unexplained"]),
        })
        .passthrough(),
    )
    .max(100_000),
  groups: z
    .array(
      z.strictObject({
        record: z.object({ group: str, owner: str, epoch: int, members: z.array(str) }).passthrough(),
        keys: z.array(z.object({ group: str, epoch: int, key: str }).passthrough()),
      }),
    )
    .max(100_000),
  messages: z
    .array(
      z
        .object({
          id: str,
          from: str,
          device: str,
          ts: int,
          exp: int,
          to: z.array(str),
          content: contentSchema,
        })
        .passthrough(),
    )
    .max(10_000_000),
});

export interface ArchiveSummary {
  address: string;
  device: string;
  contacts: number;
  groups: number;
  messages: number;
  /** Copies still waiting to be delivered when exporting: not in the archive. */
  unsent: number;
}

/** Seal the account of `o.dataDir` under `archivePassphrase` and retire that store; returns the file's text. */
export async function exportDevice(
  o: ClientOptions,
  archivePassphrase: string,
): Promise<{ text: string; summary: ArchiveSummary; retire: () => Promise<void> }> {
  const core = await openCore(o);
  try {
    const { store } = core;
    const identity = await store.loadIdentity();
    if (!identity) throw new PeopleError("PEOPLE_NOT_FOUND", "no account in this data directory");
    if (identity.exportedAt !== undefined)
      throw new PeopleError("PEOPLE_FORBIDDEN", "this device was exported already");
    const contacts = await store.listContacts();
    const groups = await Promise.all(
      (await store.listGroups()).map(async (record) => ({
        record,
        keys: await store.groupKeys(record.group),
      })),
    );
    const messages = (await store.inbox()).map(({ seq: _seq, delivered: _d, ...m }) => m);
    const content = { v: 1, exported_at: core.now(), identity, contacts, groups, messages };
    const text = await sealArchive(content, archivePassphrase);
    const summary: ArchiveSummary = {
      address: identity.address,
      device: identity.device.device,
      contacts: contacts.length,
      groups: groups.length,
      messages: messages.length,
      unsent: (await store.outbox()).length,
    };
    // Called once the caller wrote the file durably: from then on this store does not open.
    const retire = async () => {
      const core2 = await openCore(o);
      try {
        await core2.store.saveIdentity({ ...identity, exportedAt: core.now() });
        await core2.store.sync();
      } finally {
        await closeCore(core2);
      }
    };
    return { text, summary, retire };
  } finally {
    await closeCore(core);
  }
}

/** Restore an archive into the empty `o.dataDir`; nothing is written unless it opens and validates. */
export async function importDevice(
  o: ClientOptions,
  text: string,
  archivePassphrase: string,
): Promise<ArchiveSummary> {
  if (existsSync(join(o.dataDir, CLIENT_DB_FILE)))
    throw new PeopleError("PEOPLE_FORBIDDEN", "this data directory holds a People store already");
  const parsed = archiveSchema.safeParse(await openArchive(text, archivePassphrase));
  if (!parsed.success) throw new PeopleError("PEOPLE_BAD_REQUEST", "the archive's content is malformed");
  const a = parsed.data;
  const identity = a.identity as unknown as StoredIdentity;
  parseAddress(identity.address);
  DeviceIdentity.importSecrets(identity.device); // throws on malformed secrets, before anything is written
  const core = await openCore(o);
  let done = false;
  try {
    const { store } = core;
    const { exportedAt: _e, ...live } = identity;
    for (const c of a.contacts) await store.putContact(c as unknown as ContactRecord);
    for (const g of a.groups)
      for (const k of g.keys)
        await store.putGroupKey(g.record as unknown as GroupRecord, k as unknown as GroupKeyRecord);
    for (const m of a.messages) await store.commitMessage(m as unknown as StoredMessage, true);
    await store.saveIdentity(live);
    await store.sync();
    done = true;
  } finally {
    await closeCore(core);
    if (!done)
      for (const suffix of ["", "-wal", "-shm"])
        rmSync(join(o.dataDir, CLIENT_DB_FILE + suffix), { force: true });
  }
  return {
    address: identity.address,
    device: identity.device.device,
    contacts: a.contacts.length,
    groups: a.groups.length,
    messages: a.messages.length,
    unsent: 0,
  };
}
