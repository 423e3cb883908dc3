// HPKE (RFC 9180), base mode, for the one suite People uses:
// DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305 (0x0020/0x0001/0x0003).
// Written on libsodium's primitives rather than a general HPKE library because a
// seal should cost little more than its X25519 operations, and the libraries'
// per-call key imports cost several times that (bench/crypto.ts measures it). Checked against the RFC's
// Appendix A vectors in test/unit/hpke-vectors.test.ts.
import sodium from "sodium-native";
import { PeopleError } from "../errors.js";
import { u16 } from "./bytes.js";
import { X25519KeyPair, X25519PublicKey } from "./keys.js";

export const KEM_ID = 0x0020;
export const KDF_ID = 0x0001;
export const AEAD_ID = 0x0003;
export const N_ENC = 32;
export const N_K = 32;
export const N_N = 12;
export const N_T = 16;

const MODE_BASE = 0x00;
const HPKE_V1 = Buffer.from("HPKE-v1");
const KEM_SUITE = Buffer.concat([Buffer.from("KEM"), u16(KEM_ID)]);
const HPKE_SUITE = Buffer.concat([Buffer.from("HPKE"), u16(KEM_ID), u16(KDF_ID), u16(AEAD_ID)]);
const ZERO_SALT = Buffer.alloc(32);
const EMPTY = Buffer.alloc(0);

const BLOCK = 64;

/**
 * HMAC-SHA256 (RFC 2104) on libsodium's one-shot SHA-256: two native calls per
 * HMAC, where a streaming API or node:crypto's Hmac objects cost several times
 * more for these short inputs. Every key here is an HKDF salt or PRK of at most
 * 32 bytes, so it is zero-padded to the block, never hashed.
 */
function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  if (key.byteLength > BLOCK) throw new PeopleError("PEOPLE_INTERNAL", "HMAC key longer than a block");
  let length = 0;
  for (const p of parts) length += p.byteLength;
  // One buffer: [key ^ ipad | message | key ^ opad | inner hash]
  const buf = Buffer.allocUnsafe(BLOCK + length + BLOCK + 32);
  const outerAt = BLOCK + length;
  for (let i = 0; i < BLOCK; i++) {
    const k = i < key.byteLength ? key[i]! : 0;
    buf[i] = k ^ 0x36;
    buf[outerAt + i] = k ^ 0x5c;
  }
  let at = BLOCK;
  for (const p of parts) {
    buf.set(p, at);
    at += p.byteLength;
  }
  sodium.crypto_hash_sha256(buf.subarray(outerAt + BLOCK), buf.subarray(0, outerAt));
  const out = Buffer.allocUnsafe(32);
  sodium.crypto_hash_sha256(out, buf.subarray(outerAt));
  return out;
}

// "HPKE-v1" || suite_id || label, made once per (suite, label).
const labelPrefixes = new Map<Buffer, Map<string, Buffer>>();
function labeled(suite: Buffer, label: string): Buffer {
  let bySuite = labelPrefixes.get(suite);
  if (!bySuite) labelPrefixes.set(suite, (bySuite = new Map()));
  let prefix = bySuite.get(label);
  if (!prefix) bySuite.set(label, (prefix = Buffer.concat([HPKE_V1, suite, Buffer.from(label)])));
  return prefix;
}

function labeledExtract(suite: Buffer, salt: Uint8Array, label: string, ikm: Uint8Array): Buffer {
  return hmac(salt.byteLength === 0 ? ZERO_SALT : salt, labeled(suite, label), ikm);
}

const ONE = Buffer.from([1]);
const LENGTHS = new Map([12, 32].map((n) => [n, u16(n)]));

/** LabeledExpand for L <= 32: HKDF-Expand then needs a single HMAC block. */
function labeledExpand(
  suite: Buffer,
  prk: Uint8Array,
  label: string,
  info: Uint8Array,
  length: number,
): Buffer {
  const t1 = hmac(prk, LENGTHS.get(length) ?? u16(length), labeled(suite, label), info, ONE);
  return t1.subarray(0, length);
}

/** DeriveKeyPair (RFC 9180 7.1.3) for X25519: used by the test vectors and deterministic fixtures. */
export function deriveKeyPair(ikm: Uint8Array): X25519KeyPair {
  const prk = labeledExtract(KEM_SUITE, EMPTY, "dkp_prk", ikm);
  return X25519KeyPair.fromSecret(labeledExpand(KEM_SUITE, prk, "sk", EMPTY, 32));
}

function extractAndExpand(dh: Uint8Array, enc: Uint8Array, pkR: Uint8Array): Buffer {
  const prk = labeledExtract(KEM_SUITE, EMPTY, "eae_prk", dh);
  // kem_context = enc || pkRm
  return hmac(prk, LENGTHS.get(32)!, labeled(KEM_SUITE, "shared_secret"), enc, pkR, ONE);
}

/** Encap with a caller-supplied ephemeral key: the multi-recipient wrap reuses one per message. */
export function encapWith(
  ephemeral: X25519KeyPair,
  pkR: X25519PublicKey,
): { sharedSecret: Buffer; enc: Buffer } {
  const dh = ephemeral.dh(pkR);
  const enc = ephemeral.publicKey.raw;
  return { sharedSecret: extractAndExpand(dh, enc, pkR.raw), enc };
}

export function decap(enc: Uint8Array, skR: X25519KeyPair): Buffer {
  if (enc.byteLength !== N_ENC)
    throw new PeopleError("PEOPLE_DECRYPT_FAILED", "HPKE enc has the wrong length");
  let dh: Buffer;
  try {
    dh = skR.dh(new X25519PublicKey(enc));
  } catch (cause) {
    // A low-order enc is a bad ciphertext, not a bad key of ours.
    throw new PeopleError("PEOPLE_DECRYPT_FAILED", "HPKE enc is a low-order point", { cause });
  }
  return extractAndExpand(dh, enc, skR.publicKey.raw);
}

// psk_id_hash and info_hash depend only on constants and `info`; callers reuse a
// handful of info strings, so the two extracts are cached per info.
const contextCache = new Map<string, Buffer>();

const contextByBuffer = new WeakMap<Uint8Array, Buffer>();

function keyScheduleContext(info: Uint8Array): Buffer {
  const known = contextByBuffer.get(info);
  if (known) return known;
  const ksc = keyScheduleContextFor(info);
  contextByBuffer.set(info, ksc);
  return ksc;
}

function keyScheduleContextFor(info: Uint8Array): Buffer {
  const cacheKey = Buffer.from(info).toString("latin1");
  let ksc = contextCache.get(cacheKey);
  if (!ksc) {
    const pskIdHash = labeledExtract(HPKE_SUITE, EMPTY, "psk_id_hash", EMPTY);
    const infoHash = labeledExtract(HPKE_SUITE, EMPTY, "info_hash", info);
    ksc = Buffer.concat([Buffer.from([MODE_BASE]), pskIdHash, infoHash]);
    if (contextCache.size < 64) contextCache.set(cacheKey, ksc);
  }
  return ksc;
}

export class HpkeContext {
  private seq = 0;

  constructor(
    readonly key: Buffer,
    readonly baseNonce: Buffer,
    private readonly secret: Buffer,
    private readonly ksc: Buffer,
  ) {}

  private nonce(): Buffer {
    if (this.seq >= 0xffffffff) throw new PeopleError("PEOPLE_INTERNAL", "HPKE sequence number exhausted");
    const n = Buffer.from(this.baseNonce);
    // seq fits in 32 bits here; XOR it into the low-order end of the nonce.
    n.writeUInt32BE((n.readUInt32BE(8) ^ this.seq) >>> 0, 8);
    return n;
  }

  seal(aad: Uint8Array, plaintext: Uint8Array): Buffer {
    const out = aeadSeal(this.key, this.nonce(), aad, plaintext);
    this.seq += 1;
    return out;
  }

  /** A failed open leaves the sequence number where it was (RFC 9180 5.2). */
  open(aad: Uint8Array, ciphertext: Uint8Array): Buffer {
    const out = aeadOpen(this.key, this.nonce(), aad, ciphertext);
    this.seq += 1;
    return out;
  }

  /** The exporter secret is derived on demand: most contexts never use it. */
  exporterSecret(): Buffer {
    return labeledExpand(HPKE_SUITE, this.secret, "exp", this.ksc, 32);
  }

  export(exporterContext: Uint8Array, length: number): Buffer {
    if (length > 32) throw new PeopleError("PEOPLE_INTERNAL", "export length above 32 is not supported");
    return labeledExpand(HPKE_SUITE, this.exporterSecret(), "sec", exporterContext, length);
  }
}

export function keySchedule(sharedSecret: Uint8Array, info: Uint8Array): HpkeContext {
  const ksc = keyScheduleContext(info);
  const secret = labeledExtract(HPKE_SUITE, sharedSecret, "secret", EMPTY);
  const key = labeledExpand(HPKE_SUITE, secret, "key", ksc, N_K);
  const baseNonce = labeledExpand(HPKE_SUITE, secret, "base_nonce", ksc, N_N);
  return new HpkeContext(key, baseNonce, secret, ksc);
}

export function setupBaseS(
  pkR: X25519PublicKey,
  info: Uint8Array,
  ephemeral: X25519KeyPair = X25519KeyPair.generate(),
): { enc: Buffer; ctx: HpkeContext } {
  const { sharedSecret, enc } = encapWith(ephemeral, pkR);
  return { enc, ctx: keySchedule(sharedSecret, info) };
}

export function setupBaseR(enc: Uint8Array, skR: X25519KeyPair, info: Uint8Array): HpkeContext {
  return keySchedule(decap(enc, skR), info);
}

/** Single-shot seal: enc || ciphertext are returned separately. */
export function sealBase(
  pkR: X25519PublicKey,
  info: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
): { enc: Buffer; ciphertext: Buffer } {
  const { enc, ctx } = setupBaseS(pkR, info);
  return { enc, ciphertext: ctx.seal(aad, plaintext) };
}

export function openBase(
  enc: Uint8Array,
  skR: X25519KeyPair,
  info: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
): Buffer {
  return setupBaseR(enc, skR, info).open(aad, ciphertext);
}

export function aeadSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(plaintext.byteLength + N_T);
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt(
    out,
    plaintext as Buffer,
    aad as Buffer,
    null,
    nonce as Buffer,
    key as Buffer,
  );
  return out;
}

export function aeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
): Buffer {
  if (ciphertext.byteLength < N_T)
    throw new PeopleError("PEOPLE_DECRYPT_FAILED", "ciphertext shorter than its tag");
  const out = Buffer.allocUnsafe(ciphertext.byteLength - N_T);
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(
      out,
      null,
      ciphertext as Buffer,
      aad as Buffer,
      nonce as Buffer,
      key as Buffer,
    );
  } catch (cause) {
    throw new PeopleError("PEOPLE_DECRYPT_FAILED", "AEAD authentication failed", { cause });
  }
  return out;
}
