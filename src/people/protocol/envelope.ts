// Sealed envelopes (docs/PROTOCOL.md, "Envelopes"). Three layers:
//   1. the message, signed by the sender's device, inside the content
//      ciphertext with a commitment to the content key;
//   2. the inner envelope: the content ciphertext plus one HPKE wrap of the
//      content key per recipient device, all wraps sharing one ephemeral key;
//   3. the outer envelope: recipient, expiry and envelope id with the inner
//      envelope, HPKE-sealed to the recipient server's envelope key.
// The server opens layer 3 only; it never sees the sender or the content.
import { randomBytes } from "node:crypto";
import { PeopleError } from "../errors.js";
import { parseCanonicalAddress, type PeopleAddress } from "./address.js";
import { b64u, ctEqual, isAllZero, u16, u32, u64 } from "./bytes.js";
import { aeadOpen, aeadSeal, decap, encapWith, keySchedule, setupBaseR, setupBaseS } from "./hpke.js";
import { parseDeviceId, type DeviceId, type EnvelopeId, type MessageId } from "./ids.js";
import { X25519KeyPair, X25519PublicKey } from "./keys.js";
import { contentSchema, innerMessageSchema, type InnerMessageJson, type MessageContent } from "./messages.js";
import { MAX_PADDED, MIN_BUCKET, paddedLength } from "./padding.js";
import { WireReader } from "./wire-reader.js";
import { parseBody } from "./signed-json.js";
import { sha256, signBytes, verifyBytes } from "./signing.js";
import type { Ed25519KeyPair, Ed25519PublicKey } from "./keys.js";
import type { ServerEnvelopeKey } from "./server-keys.js";

export const WIRE_VERSION = 1;
const INNER_HEADER = Buffer.from([0x50, 0x50, 0x4c, WIRE_VERSION, 0x49]); // "PPL" 1 "I"
const OUTER_HEADER = Buffer.from([0x50, 0x50, 0x4c, WIRE_VERSION, 0x4f]); // "PPL" 1 "O"
const WRAP_INFO = Buffer.from("people/v1 content-key-wrap");
const OUTER_INFO = Buffer.from("people/v1 outer-envelope");
const CK_PREFIX = Buffer.from("people/v1 content-key\0");
const ZERO_NONCE = Buffer.alloc(12);
const EMPTY = Buffer.alloc(0);

export const MAX_WRAPS = 1024;
const WRAP_SIZE = 8 + 32 + 16;
export const MAX_INNER = INNER_HEADER.length + 32 + 2 + MAX_WRAPS * WRAP_SIZE + 4 + MAX_PADDED + 16;
export const MAX_OUTER = OUTER_HEADER.length + 8 + 32 + 1 + 254 + 8 + 16 + 1 + 255 + MAX_INNER + 16;
/** How far in the future a sender's clock may be. */
export const MAX_CLOCK_SKEW_MS = 5 * 60 * 1000;
/** Longest lifetime an envelope may ask for. */
export const MAX_TTL_MS = 30 * 24 * 60 * 60 * 1000;

export type RandomSource = (length: number) => Buffer;

export interface EnvelopeCopy {
  /** The account this copy is for; its server is the one that opens the outer layer. */
  address: PeopleAddress;
  /** Current encryption keys of that account's devices (for the sender's own account: its other devices). */
  devices: readonly X25519PublicKey[];
  server: ServerEnvelopeKey;
  deliveryToken?: Buffer;
}

export interface SealOptions {
  from: PeopleAddress;
  device: DeviceId;
  signingKey: Ed25519KeyPair;
  /** Everyone the message is addressed to (the conversation), as signed. */
  to: readonly PeopleAddress[];
  content: MessageContent;
  copies: readonly EnvelopeCopy[];
  now: number;
  ttlMs: number;
  messageId?: MessageId;
  /** Deterministic randomness for known-answer vectors; real use leaves it out. */
  random?: RandomSource;
}

export interface SealedCopy {
  address: PeopleAddress;
  envelopeId: EnvelopeId;
  outer: Buffer;
}

function pooledRandom(total: number): RandomSource {
  const pool = randomBytes(total);
  let at = 0;
  return (length) => {
    if (at + length > pool.length) return randomBytes(length);
    const out = pool.subarray(at, at + length);
    at += length;
    return out;
  };
}

export function contentKeyCommitment(contentKey: Uint8Array): Buffer {
  return sha256(CK_PREFIX, contentKey);
}

export function sealMessage(o: SealOptions): { messageId: MessageId; copies: SealedCopy[] } {
  if (o.ttlMs <= 0 || o.ttlMs > MAX_TTL_MS) throw new PeopleError("PEOPLE_BAD_REQUEST", "ttl out of range");
  // Never seal what a receiver would refuse.
  if (!contentSchema.safeParse(o.content).success)
    throw new PeopleError("PEOPLE_BAD_REQUEST", "invalid content");
  // One draw from the system RNG per seal: small randomBytes calls cost more than the bytes.
  const random = o.random ?? pooledRandom(16 + 32 + o.copies.length * 16);
  const newEphemeral = o.random ? () => X25519KeyPair.fromSecret(random(32)) : () => X25519KeyPair.generate();
  const messageId = o.messageId ?? (b64u(random(16)) as MessageId);
  const contentKey = random(32);
  const message: InnerMessageJson = {
    v: 1,
    id: messageId,
    from: o.from,
    device: o.device,
    ts: o.now,
    exp: o.now + o.ttlMs,
    to: [...o.to],
    ck: b64u(contentKeyCommitment(contentKey)),
    content: o.content,
  };
  const ciphertext = encryptContent(Buffer.from(JSON.stringify(message), "utf8"), o.signingKey, contentKey);
  const ephemeral = newEphemeral();
  const copies = o.copies.map((copy) => {
    const inner = buildInner(ephemeral, contentKey, copy.devices, ciphertext);
    const envelopeId = b64u(random(16)) as EnvelopeId;
    const outer = sealOuter({
      inner,
      recipient: copy.address,
      expiry: message.exp,
      envelopeId,
      server: copy.server,
      deliveryToken: copy.deliveryToken,
      ephemeral: newEphemeral(),
    });
    return { address: copy.address, envelopeId, outer };
  });
  return { messageId, copies };
}

function encryptContent(messageBytes: Buffer, signingKey: Ed25519KeyPair, contentKey: Buffer): Buffer {
  const signature = signBytes(signingKey, "inner-message", messageBytes);
  const used = 4 + messageBytes.length + signature.length;
  const plaintext = Buffer.alloc(paddedLength(used));
  plaintext.writeUInt32BE(messageBytes.length, 0);
  messageBytes.copy(plaintext, 4);
  signature.copy(plaintext, 4 + messageBytes.length);
  return aeadSeal(contentKey, ZERO_NONCE, INNER_HEADER, plaintext);
}

function buildInner(
  ephemeral: X25519KeyPair,
  contentKey: Buffer,
  devices: readonly X25519PublicKey[],
  ciphertext: Buffer,
): Buffer {
  if (devices.length === 0 || devices.length > MAX_WRAPS) {
    throw new PeopleError("PEOPLE_BAD_REQUEST", "a copy needs 1 to 1024 recipient devices");
  }
  const parts: Buffer[] = [INNER_HEADER, ephemeral.publicKey.raw, u16(devices.length)];
  for (const device of devices) {
    const { sharedSecret } = encapWith(ephemeral, device);
    parts.push(device.id, keySchedule(sharedSecret, WRAP_INFO).seal(EMPTY, contentKey));
  }
  parts.push(u32(ciphertext.length), ciphertext);
  return Buffer.concat(parts);
}

function sealOuter(o: {
  inner: Buffer;
  recipient: PeopleAddress;
  expiry: number;
  envelopeId: EnvelopeId;
  server: ServerEnvelopeKey;
  deliveryToken: Buffer | undefined;
  ephemeral: X25519KeyPair;
}): Buffer {
  const recipient = Buffer.from(o.recipient, "utf8");
  const token = o.deliveryToken ?? EMPTY;
  if (token.length > 255) throw new PeopleError("PEOPLE_BAD_REQUEST", "delivery token too long");
  const { enc, ctx } = setupBaseS(o.server.key, OUTER_INFO, o.ephemeral);
  const header = Buffer.concat([OUTER_HEADER, o.server.keyId, enc]);
  const plaintext = Buffer.concat([
    Buffer.from([recipient.length]),
    recipient,
    u64(o.expiry),
    Buffer.from(o.envelopeId, "base64url"),
    Buffer.from([token.length]),
    token,
    o.inner,
  ]);
  return Buffer.concat([header, ctx.seal(header, plaintext)]);
}

// ---- opening ----

/** A header of another protocol version is named as such; anything else is malformed. */
function checkHeader(r: WireReader, expected: Buffer, what: string): void {
  const header = r.take(expected.length, "header");
  if (header.equals(expected)) return;
  if (header.subarray(0, 3).equals(expected.subarray(0, 3)) && header[3] !== WIRE_VERSION) {
    throw new PeopleError("PEOPLE_UNSUPPORTED_VERSION", `${what} of wire version ${header[3]}`);
  }
  r.fail(`not an ${what}`);
}

export interface OpenedOuter {
  recipient: PeopleAddress;
  expiry: number;
  envelopeId: EnvelopeId;
  deliveryToken: Buffer | null;
  inner: Buffer;
}

/**
 * The server's step: open the outer layer with the envelope key it names.
 * Every failure is PEOPLE_BAD_ENVELOPE, PEOPLE_UNSUPPORTED_VERSION, PEOPLE_UNKNOWN_KEY,
 * PEOPLE_DECRYPT_FAILED, PEOPLE_EXPIRED or PEOPLE_TOO_LARGE, with no further detail for the caller.
 */
export function openOuter(
  outer: Buffer,
  envelopeKey: (keyId: Buffer) => X25519KeyPair | undefined,
  now: number,
): OpenedOuter {
  if (outer.length > MAX_OUTER) throw new PeopleError("PEOPLE_TOO_LARGE", "outer envelope too large");
  const r = new WireReader(outer);
  checkHeader(r, OUTER_HEADER, "outer envelope");
  const keyIdBytes = r.take(8, "server key id");
  const enc = r.take(32, "enc");
  const header = outer.subarray(0, r.position);
  const key = envelopeKey(keyIdBytes);
  if (!key) throw new PeopleError("PEOPLE_UNKNOWN_KEY", "outer envelope names an unknown server key");
  const plaintext = setupBaseR(enc, key, OUTER_INFO).open(header, r.rest());
  return parseOuterPlaintext(plaintext, now);
}

function parseOuterPlaintext(p: Buffer, now: number): OpenedOuter {
  const r = new WireReader(p);
  const recipient = parseCanonicalAddress(
    r.take(r.u8("recipient length"), "recipient").toString("latin1"),
    "PEOPLE_BAD_ENVELOPE",
  );
  const expiry = r.u64("expiry");
  const envelopeId = r.take(16, "envelope id").toString("base64url") as EnvelopeId;
  const tokenLength = r.u8("token length");
  const token = tokenLength > 0 ? Buffer.from(r.take(tokenLength, "token")) : null;
  if (expiry <= now) throw new PeopleError("PEOPLE_EXPIRED", "envelope expired");
  if (expiry > now + MAX_TTL_MS + MAX_CLOCK_SKEW_MS) r.fail("expiry too far in the future");
  const inner = r.rest();
  parseInnerFrame(inner); // a server stores only inner envelopes that are well formed
  return { recipient, expiry, envelopeId, deliveryToken: token, inner };
}

interface InnerFrame {
  ephemeral: Buffer;
  wraps: { keyId: Buffer; wrapped: Buffer }[];
  ciphertext: Buffer;
}

export function parseInnerFrame(inner: Buffer): InnerFrame {
  if (inner.length > MAX_INNER) throw new PeopleError("PEOPLE_TOO_LARGE", "inner envelope too large");
  const r = new WireReader(inner);
  checkHeader(r, INNER_HEADER, "inner envelope");
  const ephemeral = r.take(32, "ephemeral key");
  const count = r.u16("wrap count");
  if (count === 0 || count > MAX_WRAPS) r.fail("wrap count out of range");
  const wraps: InnerFrame["wraps"] = [];
  for (let i = 0; i < count; i++) {
    wraps.push({ keyId: r.take(8, "wrap key id"), wrapped: r.take(WRAP_SIZE - 8, "wrapped key") });
  }
  const length = r.u32("ciphertext length");
  if (length !== r.remaining || length < MIN_BUCKET + 16) r.fail("ciphertext length does not match");
  return { ephemeral, wraps, ciphertext: r.rest() };
}

/** A decrypted message whose signature has not been checked yet: only the claimed sender is readable. */
export interface UnverifiedMessage {
  readonly from: PeopleAddress;
  readonly device: DeviceId;
  readonly ts: number;
  /** @internal */ readonly _message: InnerMessageJson;
  /** @internal */ readonly _signed: Buffer;
  /** @internal */ readonly _signature: Buffer;
}

/** A device's first step: find its wrap, recover the content key, decrypt, check the key commitment. */
export function decryptInner(
  inner: Buffer,
  decryptionKey: (keyId: Buffer) => X25519KeyPair | undefined,
): UnverifiedMessage {
  const frame = parseInnerFrame(inner);
  let contentKey: Buffer | undefined;
  for (const wrap of frame.wraps) {
    const key = decryptionKey(wrap.keyId);
    if (!key) continue;
    contentKey = keySchedule(decap(frame.ephemeral, key), WRAP_INFO).open(EMPTY, wrap.wrapped);
    break;
  }
  if (!contentKey) throw new PeopleError("PEOPLE_UNKNOWN_KEY", "no wrap for any key of this device");
  const plaintext = aeadOpen(contentKey, ZERO_NONCE, INNER_HEADER, frame.ciphertext);
  const signedLength = plaintext.readUInt32BE(0);
  if (signedLength > plaintext.length - 4 - 64)
    throw new PeopleError("PEOPLE_BAD_ENVELOPE", "bad signed length");
  const used = 4 + signedLength + 64;
  // Padding must be exactly the bucket for this size, and zeros: no side channel in it.
  if (plaintext.length !== paddedLength(used) || !isAllZero(plaintext.subarray(used))) {
    throw new PeopleError("PEOPLE_BAD_ENVELOPE", "padding is not canonical");
  }
  const signed = plaintext.subarray(4, 4 + signedLength);
  const signature = plaintext.subarray(4 + signedLength, used);
  const message = parseBody(signed, innerMessageSchema, "inner message", "PEOPLE_BAD_ENVELOPE");
  const commitment = Buffer.from(message.ck, "base64url");
  if (!ctEqual(commitment, contentKeyCommitment(contentKey))) {
    throw new PeopleError("PEOPLE_DECRYPT_FAILED", "content key does not match its commitment");
  }
  const from = parseCanonicalAddress(message.from, "PEOPLE_BAD_ENVELOPE");
  return {
    from,
    device: parseDeviceId(message.device, "PEOPLE_BAD_ENVELOPE"),
    ts: message.ts,
    _message: message,
    _signed: signed,
    _signature: signature,
  };
}

/** Remembers message ids until their expiry, so a replayed message is refused. */
export interface ReplayGuard {
  /** Returns false when the key was seen before; otherwise remembers it until `until`. */
  checkAndRemember(key: string, until: number): boolean;
}

export interface VerifiedMessage {
  id: MessageId;
  from: PeopleAddress;
  device: DeviceId;
  ts: number;
  exp: number;
  to: PeopleAddress[];
  content: MessageContent;
}

/** A device's second step: the sender's device key (from its verified chain) checks the signature. */
export function verifyMessage(
  unverified: UnverifiedMessage,
  senderKey: Ed25519PublicKey,
  o: { self: PeopleAddress; now: number; replay: ReplayGuard },
): VerifiedMessage {
  const m = unverified._message;
  if (!verifyBytes(senderKey, "inner-message", unverified._signed, unverified._signature)) {
    throw new PeopleError("PEOPLE_BAD_SIGNATURE", "message signature does not verify");
  }
  const to = m.to.map((a) => parseCanonicalAddress(a, "PEOPLE_BAD_ENVELOPE"));
  if (unverified.from !== o.self && !to.includes(o.self)) {
    throw new PeopleError("PEOPLE_WRONG_RECIPIENT", "message is not addressed to this account");
  }
  if (m.ts > o.now + MAX_CLOCK_SKEW_MS)
    throw new PeopleError("PEOPLE_NOT_YET_VALID", "message is from the future");
  if (m.exp <= o.now) throw new PeopleError("PEOPLE_EXPIRED", "message expired");
  if (m.exp - m.ts > MAX_TTL_MS || m.exp <= m.ts)
    throw new PeopleError("PEOPLE_BAD_ENVELOPE", "bad lifetime");
  if (!o.replay.checkAndRemember(`${unverified.from}/${m.id}`, m.exp)) {
    throw new PeopleError("PEOPLE_REPLAYED", "message id seen before");
  }
  return {
    id: m.id as MessageId,
    from: unverified.from,
    device: unverified.device,
    ts: m.ts,
    exp: m.exp,
    to,
    content: m.content,
  };
}

/** An in-memory replay guard (clients persist theirs; see the client's store). */
export class MemoryReplayGuard implements ReplayGuard {
  private readonly seen = new Map<string, number>();

  checkAndRemember(key: string, until: number): boolean {
    if (this.seen.has(key)) return false;
    this.seen.set(key, until);
    return true;
  }

  /** Forget ids whose message has expired (an expired message is refused on its own). */
  prune(now: number): void {
    for (const [key, until] of this.seen) if (until <= now) this.seen.delete(key);
  }
}

export { MAX_PADDED };
