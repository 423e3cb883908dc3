// Raw 32-byte X25519 and Ed25519 keys wrapped around node:crypto KeyObjects.
// A KeyObject is made once per key and cached: importing keys per operation
// would cost more than the curve operation itself.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from "node:crypto";
import { PeopleError } from "../errors.js";
import { b64u, fromB64u, isAllZero } from "./bytes.js";

const X25519_PKCS8 = Buffer.from("302e020100300506032b656e04220420", "hex");
const X25519_SPKI = Buffer.from("302a300506032b656e032100", "hex");
const ED25519_PKCS8 = Buffer.from("302e020100300506032b657004220420", "hex");
const ED25519_SPKI = Buffer.from("302a300506032b6570032100", "hex");

function rawPublic(key: KeyObject, spkiPrefixLength: number): Buffer {
  return (key.export({ format: "der", type: "spki" }) as Buffer).subarray(spkiPrefixLength);
}

function rawPrivate(key: KeyObject, pkcs8PrefixLength: number): Buffer {
  return (key.export({ format: "der", type: "pkcs8" }) as Buffer).subarray(pkcs8PrefixLength);
}

function check32(raw: Uint8Array, what: string): Buffer {
  if (raw.byteLength !== 32) throw new PeopleError("PEOPLE_BAD_KEY", `${what} must be 32 bytes`);
  return Buffer.from(raw);
}

const KEY_ID_PREFIX = Buffer.from("people/v1 key-id\0", "utf8");

/** 8-byte identifier of a public key: what envelopes name a recipient key by. */
export function keyId(publicKeyRaw: Uint8Array): Buffer {
  return createHash("sha256").update(KEY_ID_PREFIX).update(publicKeyRaw).digest().subarray(0, 8);
}

export class X25519PublicKey {
  readonly raw: Buffer;
  private cached: KeyObject | undefined;
  private cachedId: Buffer | undefined;

  /** keyId(raw), computed once. */
  get id(): Buffer {
    this.cachedId ??= keyId(this.raw);
    return this.cachedId;
  }

  constructor(raw: Uint8Array) {
    this.raw = check32(raw, "X25519 public key");
  }

  static fromB64u(text: string): X25519PublicKey {
    const raw = fromB64u(text);
    if (!raw) throw new PeopleError("PEOPLE_BAD_KEY", "X25519 public key is not base64url");
    return new X25519PublicKey(raw);
  }

  get keyObject(): KeyObject {
    this.cached ??= createPublicKey({
      key: Buffer.concat([X25519_SPKI, this.raw]),
      format: "der",
      type: "spki",
    });
    return this.cached;
  }

  toB64u(): string {
    return b64u(this.raw);
  }
}

export class X25519KeyPair {
  readonly publicKey: X25519PublicKey;
  private readonly privateObject: KeyObject;

  private constructor(privateObject: KeyObject, publicRaw: Buffer) {
    this.privateObject = privateObject;
    this.publicKey = new X25519PublicKey(publicRaw);
  }

  static generate(): X25519KeyPair {
    const { privateKey, publicKey } = generateKeyPairSync("x25519");
    return new X25519KeyPair(privateKey, rawPublic(publicKey, X25519_SPKI.length));
  }

  /** From a 32-byte secret scalar (clamping is done by X25519 itself). */
  static fromSecret(secret: Uint8Array): X25519KeyPair {
    const key = createPrivateKey({
      key: Buffer.concat([X25519_PKCS8, check32(secret, "X25519 secret key")]),
      format: "der",
      type: "pkcs8",
    });
    return new X25519KeyPair(key, rawPublic(createPublicKey(key), X25519_SPKI.length));
  }

  /** The 32-byte secret, for encrypted-at-rest storage only. */
  exportSecret(): Buffer {
    return rawPrivate(this.privateObject, X25519_PKCS8.length);
  }

  /** X25519(sk, pk); an all-zero result (a low-order peer key) is refused as RFC 9180 requires. */
  dh(peer: X25519PublicKey): Buffer {
    let shared: Buffer;
    try {
      shared = diffieHellman({ privateKey: this.privateObject, publicKey: peer.keyObject });
    } catch (cause) {
      throw new PeopleError("PEOPLE_BAD_KEY", "X25519 with this public key failed", { cause });
    }
    if (isAllZero(shared)) throw new PeopleError("PEOPLE_BAD_KEY", "X25519 produced the all-zero secret");
    return shared;
  }
}

export class Ed25519PublicKey {
  readonly raw: Buffer;
  private cached: KeyObject | undefined;

  constructor(raw: Uint8Array) {
    this.raw = check32(raw, "Ed25519 public key");
  }

  static fromB64u(text: string): Ed25519PublicKey {
    const raw = fromB64u(text);
    if (!raw) throw new PeopleError("PEOPLE_BAD_KEY", "Ed25519 public key is not base64url");
    return new Ed25519PublicKey(raw);
  }

  get keyObject(): KeyObject {
    this.cached ??= createPublicKey({
      key: Buffer.concat([ED25519_SPKI, this.raw]),
      format: "der",
      type: "spki",
    });
    return this.cached;
  }

  /** Plain Ed25519 verification; callers go through signing.ts, which adds the domain label. */
  verifyRaw(message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.byteLength !== 64) return false;
    try {
      return nodeVerify(null, message, this.keyObject, signature);
    } catch {
      return false;
    }
  }

  toB64u(): string {
    return b64u(this.raw);
  }

  equals(other: Ed25519PublicKey): boolean {
    return this.raw.equals(other.raw);
  }
}

export class Ed25519KeyPair {
  readonly publicKey: Ed25519PublicKey;
  private readonly privateObject: KeyObject;

  private constructor(privateObject: KeyObject, publicRaw: Buffer) {
    this.privateObject = privateObject;
    this.publicKey = new Ed25519PublicKey(publicRaw);
  }

  static generate(): Ed25519KeyPair {
    return Ed25519KeyPair.fromSeed(randomBytes(32));
  }

  static fromSeed(seed: Uint8Array): Ed25519KeyPair {
    const key = createPrivateKey({
      key: Buffer.concat([ED25519_PKCS8, check32(seed, "Ed25519 seed")]),
      format: "der",
      type: "pkcs8",
    });
    return new Ed25519KeyPair(key, rawPublic(createPublicKey(key), ED25519_SPKI.length));
  }

  /** The 32-byte seed, for encrypted-at-rest storage only. */
  exportSeed(): Buffer {
    return rawPrivate(this.privateObject, ED25519_PKCS8.length);
  }

  signRaw(message: Uint8Array): Buffer {
    return nodeSign(null, message, this.privateObject);
  }
}
