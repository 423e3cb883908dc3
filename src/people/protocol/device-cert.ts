// Device key certificates: one per rotation, each naming the previous one by
// hash, signed by the previous device key, the new device key (possession)
// and the account key. A server cannot mint one (it never holds the account
// key) and cannot rewrite history without a detectable fork.
import { z } from "zod";
import { PeopleError } from "../errors.js";
import { parseCanonicalAddress, type PeopleAddress } from "./address.js";
import { b64u, owned } from "./bytes.js";
import { parseDeviceId, type DeviceId } from "./ids.js";
import type { Ed25519KeyPair } from "./keys.js";
import { Ed25519PublicKey, X25519PublicKey } from "./keys.js";
import {
  b64uKey32,
  decodeB64uField,
  encodeBody,
  parseBody,
  signature64,
  timestampMs,
} from "./signed-json.js";
import { requireSignature, sha256, signBytes } from "./signing.js";

const CODE = "PEOPLE_CHAIN_INVALID";

const certBodySchema = z.strictObject({
  v: z.literal(1),
  type: z.literal("people.device_cert"),
  address: z.string().max(254),
  device: z.string().max(64),
  seq: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31),
  prev_hash: b64uKey32.nullable(),
  account_key: b64uKey32,
  keys: z.strictObject({ sign: b64uKey32, enc: b64uKey32 }),
  not_before: timestampMs,
  not_after: timestampMs,
});

export const deviceCertWireSchema = z.strictObject({
  body: z.string().max(4096),
  sig_account: signature64,
  sig_prev: signature64.optional(),
  sig_self: signature64,
});

export type DeviceCertWire = z.infer<typeof deviceCertWireSchema>;

/** A certificate whose body parsed; its signatures are checked by verifyChain. */
export interface DeviceCert {
  readonly address: PeopleAddress;
  readonly device: DeviceId;
  readonly seq: number;
  readonly prevHash: Buffer | null;
  readonly accountKey: Ed25519PublicKey;
  readonly signKey: Ed25519PublicKey;
  readonly encKey: X25519PublicKey;
  readonly notBefore: number;
  readonly notAfter: number;
  /** SHA-256 of the exact body bytes: what the next certificate's prev_hash names. */
  readonly hash: Buffer;
  readonly bodyBytes: Buffer;
  readonly wire: DeviceCertWire;
}

export function parseDeviceCert(input: unknown): DeviceCert {
  const wire = deviceCertWireSchema.safeParse(input);
  if (!wire.success) throw new PeopleError(CODE, "device certificate has the wrong shape");
  const bodyBytes = decodeB64uField(wire.data.body, "certificate body", CODE);
  const body = parseBody(bodyBytes, certBodySchema, "certificate body", CODE);
  if (body.not_after <= body.not_before) throw new PeopleError(CODE, "certificate validity is empty");
  if ((body.seq === 0) !== (body.prev_hash === null)) {
    throw new PeopleError(CODE, "prev_hash must be null exactly for seq 0");
  }
  if ((body.seq === 0) !== (wire.data.sig_prev === undefined)) {
    throw new PeopleError(CODE, "sig_prev must be present exactly when seq > 0");
  }
  return {
    address: parseCanonicalAddress(body.address, CODE),
    device: parseDeviceId(body.device, CODE),
    seq: body.seq,
    prevHash: body.prev_hash === null ? null : owned(decodeB64uField(body.prev_hash, "prev_hash", CODE)),
    accountKey: Ed25519PublicKey.fromB64u(body.account_key),
    signKey: Ed25519PublicKey.fromB64u(body.keys.sign),
    encKey: X25519PublicKey.fromB64u(body.keys.enc),
    notBefore: body.not_before,
    notAfter: body.not_after,
    hash: sha256(bodyBytes),
    // Held as long as the account or contact is: not in a shared slab (bytes.ts, owned).
    bodyBytes: owned(bodyBytes),
    wire: wire.data,
  };
}

export interface IssueCertOptions {
  address: PeopleAddress;
  device: DeviceId;
  accountKey: Ed25519KeyPair;
  newSignKey: Ed25519KeyPair;
  newEncKey: X25519PublicKey;
  /** The certificate being succeeded and its signing key; absent for the first certificate. */
  previous?: { cert: DeviceCert; signKey: Ed25519KeyPair };
  notBefore: number;
  notAfter: number;
}

export function issueDeviceCert(o: IssueCertOptions): DeviceCert {
  const bodyBytes = encodeBody({
    v: 1,
    type: "people.device_cert",
    address: o.address,
    device: o.device,
    seq: o.previous ? o.previous.cert.seq + 1 : 0,
    prev_hash: o.previous ? b64u(o.previous.cert.hash) : null,
    account_key: o.accountKey.publicKey.toB64u(),
    keys: { sign: o.newSignKey.publicKey.toB64u(), enc: o.newEncKey.toB64u() },
    not_before: o.notBefore,
    not_after: o.notAfter,
  });
  const wire: DeviceCertWire = {
    body: b64u(bodyBytes),
    sig_account: b64u(signBytes(o.accountKey, "device-cert", bodyBytes)),
    ...(o.previous ? { sig_prev: b64u(signBytes(o.previous.signKey, "device-cert", bodyBytes)) } : {}),
    sig_self: b64u(signBytes(o.newSignKey, "device-cert", bodyBytes)),
  };
  return parseDeviceCert(wire);
}

/** The checks that involve one certificate alone: account and possession signatures. */
export function verifyCertSignatures(cert: DeviceCert, accountKey: Ed25519PublicKey): void {
  if (!cert.accountKey.equals(accountKey))
    throw new PeopleError(CODE, "certificate names another account key");
  const sigAccount = decodeB64uField(cert.wire.sig_account, "sig_account", CODE);
  const sigSelf = decodeB64uField(cert.wire.sig_self, "sig_self", CODE);
  requireSignature(accountKey, "device-cert", cert.bodyBytes, sigAccount, "account signature");
  requireSignature(cert.signKey, "device-cert", cert.bodyBytes, sigSelf, "possession signature");
}
