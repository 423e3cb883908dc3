// The account-signed device list: the one statement of which devices speak for
// an address. Servers publish it verbatim; they cannot add a device because
// they never hold the account key. Versions only go up, so a server cannot
// roll a contact back to a list from before a revocation.
import { z } from "zod";
import { PeopleError } from "../errors.js";
import { parseCanonicalAddress, type PeopleAddress } from "./address.js";
import { b64u, ctEqual } from "./bytes.js";
import type { DeviceCert } from "./device-cert.js";
import { verifyChain, type PinnedHead, type VerifiedChain } from "./device-chain.js";
import { parseDeviceId, type DeviceId } from "./ids.js";
import { Ed25519PublicKey, type Ed25519KeyPair } from "./keys.js";
import {
  b64uKey32,
  decodeB64uField,
  encodeBody,
  parseBody,
  signature64,
  timestampMs,
} from "./signed-json.js";
import { requireSignature, signBytes } from "./signing.js";

const CODE = "PEOPLE_CHAIN_INVALID";
export const MAX_DEVICES = 256;

const listBodySchema = z.strictObject({
  v: z.literal(1),
  type: z.literal("people.device_list"),
  address: z.string().max(254),
  account_key: b64uKey32,
  version: z
    .number()
    .int()
    .min(1)
    .max(2 ** 52),
  issued_at: timestampMs,
  devices: z
    .array(z.strictObject({ device: z.string().max(64), seq: z.number().int().min(0), hash: b64uKey32 }))
    .max(MAX_DEVICES),
  revoked: z.array(z.strictObject({ device: z.string().max(64), at: timestampMs })).max(4 * MAX_DEVICES),
});

export const deviceListWireSchema = z.strictObject({ body: z.string().max(400_000), sig: signature64 });
export type DeviceListWire = z.infer<typeof deviceListWireSchema>;

export interface DeviceListEntry {
  device: DeviceId;
  seq: number;
  hash: Buffer;
}

export interface DeviceList {
  address: PeopleAddress;
  accountKey: Ed25519PublicKey;
  version: number;
  issuedAt: number;
  devices: DeviceListEntry[];
  revoked: { device: DeviceId; at: number }[];
  wire: DeviceListWire;
}

export function issueDeviceList(o: {
  address: PeopleAddress;
  accountKey: Ed25519KeyPair;
  version: number;
  issuedAt: number;
  heads: DeviceCert[];
  revoked: { device: DeviceId; at: number }[];
}): DeviceList {
  const bodyBytes = encodeBody({
    v: 1,
    type: "people.device_list",
    address: o.address,
    account_key: o.accountKey.publicKey.toB64u(),
    version: o.version,
    issued_at: o.issuedAt,
    devices: o.heads.map((c) => ({ device: c.device, seq: c.seq, hash: b64u(c.hash) })),
    revoked: o.revoked,
  });
  return parseDeviceList({
    body: b64u(bodyBytes),
    sig: b64u(signBytes(o.accountKey, "device-list", bodyBytes)),
  });
}

/** Parse the shape; the signature is checked by verifyDeviceList against the trusted account key. */
export function parseDeviceList(input: unknown): DeviceList {
  const wire = deviceListWireSchema.safeParse(input);
  if (!wire.success) throw new PeopleError(CODE, "device list has the wrong shape");
  const bodyBytes = decodeB64uField(wire.data.body, "device list body", CODE);
  const body = parseBody(bodyBytes, listBodySchema, "device list body", CODE);
  const devices = body.devices.map((d) => ({
    device: parseDeviceId(d.device, CODE),
    seq: d.seq,
    hash: decodeB64uField(d.hash, "device hash", CODE),
  }));
  if (new Set(devices.map((d) => d.device)).size !== devices.length) {
    throw new PeopleError(CODE, "device listed twice");
  }
  return {
    address: parseCanonicalAddress(body.address, CODE),
    accountKey: Ed25519PublicKey.fromB64u(body.account_key),
    version: body.version,
    issuedAt: body.issued_at,
    devices,
    revoked: body.revoked.map((r) => ({ device: parseDeviceId(r.device, CODE), at: r.at })),
    wire: wire.data,
  };
}

/** What a client pinned for a contact on first use. */
export interface PinnedAccount {
  accountKey: Ed25519PublicKey;
  version: number;
  heads: Map<DeviceId, PinnedHead>;
}

export interface VerifiedAccount {
  list: DeviceList;
  chains: Map<DeviceId, VerifiedChain>;
}

/**
 * Check a device list and every listed device's chain. With `pinned`, the
 * account key must be the pinned one (an unexplained change is an error the
 * caller reports loudly), the version must not go back, and every pinned
 * device chain must be extended, never forked.
 */
export function verifyDeviceList(
  list: DeviceList,
  chains: ReadonlyMap<DeviceId, readonly DeviceCert[]>,
  expected: { address: PeopleAddress; pinned?: PinnedAccount },
): VerifiedAccount {
  if (list.address !== expected.address) throw new PeopleError(CODE, "device list is for another address");
  const pinned = expected.pinned;
  if (pinned && !pinned.accountKey.equals(list.accountKey)) {
    throw new PeopleError("PEOPLE_CHAIN_FORK", "account key differs from the pinned one");
  }
  const bodyBytes = decodeB64uField(list.wire.body, "device list body", CODE);
  const sigBytes = decodeB64uField(list.wire.sig, "device list signature", CODE);
  requireSignature(list.accountKey, "device-list", bodyBytes, sigBytes, "device list");
  if (pinned && list.version < pinned.version)
    throw new PeopleError("PEOPLE_CHAIN_FORK", "device list rolled back");

  const revoked = new Set(list.revoked.map((r) => r.device));
  const verified = new Map<DeviceId, VerifiedChain>();
  for (const entry of list.devices) {
    if (revoked.has(entry.device)) throw new PeopleError(CODE, "device is both listed and revoked");
    const certs = chains.get(entry.device);
    if (!certs) throw new PeopleError(CODE, "listed device has no chain");
    const chain = verifyChain(certs, list.accountKey, pinned?.heads.get(entry.device));
    if (chain.head.device !== entry.device || chain.head.address !== list.address) {
      throw new PeopleError(CODE, "chain belongs to another device");
    }
    if (chain.head.seq !== entry.seq || !ctEqual(chain.head.hash, entry.hash)) {
      throw new PeopleError("PEOPLE_CHAIN_FORK", "chain head is not the one the account signed");
    }
    verified.set(entry.device, chain);
  }
  return { list, chains: verified };
}
