// HPKE (RFC 9180), base mode, for the one suite People uses:
// DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305 (0x0020/0x0001/0x0003).
// Written on node:crypto rather than a general library because a seal is
// dominated by one X25519 operation and a library's per-call key imports cost
// several times that (see docs/PROTOCOL.md, "HPKE"). Checked against the RFC's
// Appendix A vectors in test/unit/hpke-vectors.test.ts.
import { createCipheriv, createDecipheriv, createHmac } from "node:crypto";
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

function hmac(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac("sha256", key);
  for (const p of parts) h.update(p);
  return h.digest();
}

function labeledExtract(suite: Buffer, salt: Uint8Array, label: string, ikm: Uint8Array): Buffer {
  return hmac(salt.byteLength === 0 ? ZERO_SALT : salt, HPKE_V1, suite, Buffer.from(label), ikm);
}

/** LabeledExpand for L <= 32: HKDF-Expand then needs a single HMAC block. */
function labeledExpand(
  suite: Buffer,
  prk: Uint8Array,
  label: string,
  info: Uint8Array,
  length: number,
): Buffer {
  const t1 = hmac(prk, u16(length), HPKE_V1, suite, Buffer.from(label), info, Buffer.from([1]));
  return t1.subarray(0, length);
}

/** DeriveKeyPair (RFC 9180 7.1.3) for X25519: used by the test vectors and deterministic fixtures. */
export function deriveKeyPair(ikm: Uint8Array): X25519KeyPair {
  const prk = labeledExtract(KEM_SUITE, EMPTY, "dkp_prk", ikm);
  return X25519KeyPair.fromSecret(labeledExpand(KEM_SUITE, prk, "sk", EMPTY, 32));
}

function extractAndExpand(dh: Uint8Array, kemContext: Uint8Array): Buffer {
  const prk = labeledExtract(KEM_SUITE, EMPTY, "eae_prk", dh);
  return labeledExpand(KEM_SUITE, prk, "shared_secret", kemContext, 32);
}

/** Encap with a caller-supplied ephemeral key: the multi-recipient wrap reuses one per message. */
export function encapWith(
  ephemeral: X25519KeyPair,
  pkR: X25519PublicKey,
): { sharedSecret: Buffer; enc: Buffer } {
  const dh = ephemeral.dh(pkR);
  const enc = ephemeral.publicKey.raw;
  return { sharedSecret: extractAndExpand(dh, Buffer.concat([enc, pkR.raw])), enc };
}

export function decap(enc: Uint8Array, skR: X25519KeyPair): Buffer {
  if (enc.byteLength !== N_ENC)
    throw new PeopleError("PEOPLE_DECRYPT_FAILED", "HPKE enc has the wrong length");
  const dh = skR.dh(new X25519PublicKey(enc));
  return extractAndExpand(dh, Buffer.concat([enc, skR.publicKey.raw]));
}

// psk_id_hash and info_hash depend only on constants and `info`; callers reuse a
// handful of info strings, so the two extracts are cached per info.
const contextCache = new Map<string, Buffer>();

function keyScheduleContext(info: Uint8Array): Buffer {
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
  const c = createCipheriv("chacha20-poly1305", key, nonce, { authTagLength: N_T });
  c.setAAD(aad, { plaintextLength: plaintext.byteLength });
  const body = c.update(plaintext);
  c.final();
  return Buffer.concat([body, c.getAuthTag()]);
}

export function aeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
): Buffer {
  if (ciphertext.byteLength < N_T)
    throw new PeopleError("PEOPLE_DECRYPT_FAILED", "ciphertext shorter than its tag");
  const d = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: N_T });
  d.setAAD(aad, { plaintextLength: ciphertext.byteLength - N_T });
  d.setAuthTag(ciphertext.subarray(ciphertext.byteLength - N_T));
  const body = d.update(ciphertext.subarray(0, ciphertext.byteLength - N_T));
  try {
    d.final();
  } catch (cause) {
    throw new PeopleError("PEOPLE_DECRYPT_FAILED", "AEAD authentication failed", { cause });
  }
  return body;
}
