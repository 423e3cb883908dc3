// Raw 32-byte X25519 and Ed25519 keys on libsodium (sodium-native, whose
// prebuilt binaries ship inside the npm package). Keys stay plain buffers:
// no per-operation key import, and a secret can really be erased (zeroed).
// node:crypto's KeyObjects were measured slower per seal (bench/crypto.ts).
import sodium from "sodium-native";
import { createHash } from "node:crypto";
import { PeopleError } from "../errors.js";
import { b64u, fromB64u, owned } from "./bytes.js";

function check32(raw: Uint8Array, what: string): Buffer {
  if (raw.byteLength !== 32) throw new PeopleError("PEOPLE_BAD_KEY", `${what} must be 32 bytes`);
  // Keys live as long as their account: not in a shared slab (bytes.ts, owned).
  return owned(raw);
}

const KEY_ID_PREFIX = Buffer.from("people/v1 key-id\0", "utf8");

/** 8-byte identifier of a public key: what envelopes name a recipient key by. */
export function keyId(publicKeyRaw: Uint8Array): Buffer {
  return createHash("sha256").update(KEY_ID_PREFIX).update(publicKeyRaw).digest().subarray(0, 8);
}

export function randomSecret(): Buffer {
  const b = Buffer.allocUnsafeSlow(32);
  sodium.randombytes_buf(b);
  return b;
}

export class X25519PublicKey {
  readonly raw: Buffer;
  private cachedId: Buffer | undefined;

  constructor(raw: Uint8Array) {
    this.raw = check32(raw, "X25519 public key");
  }

  static fromB64u(text: string): X25519PublicKey {
    const raw = fromB64u(text);
    if (!raw) throw new PeopleError("PEOPLE_BAD_KEY", "X25519 public key is not base64url");
    return new X25519PublicKey(raw);
  }

  /** keyId(raw), computed once. */
  get id(): Buffer {
    this.cachedId ??= owned(keyId(this.raw));
    return this.cachedId;
  }

  toB64u(): string {
    return b64u(this.raw);
  }

  equals(other: X25519PublicKey): boolean {
    return this.raw.equals(other.raw);
  }
}

export class X25519KeyPair {
  readonly publicKey: X25519PublicKey;
  private readonly secret: Buffer;

  private constructor(secret: Buffer) {
    this.secret = secret;
    const pub = Buffer.allocUnsafeSlow(32);
    sodium.crypto_scalarmult_base(pub, secret);
    this.publicKey = new X25519PublicKey(pub);
  }

  static generate(): X25519KeyPair {
    return new X25519KeyPair(randomSecret());
  }

  /** From a 32-byte secret scalar (clamping is done by X25519 itself). */
  static fromSecret(secret: Uint8Array): X25519KeyPair {
    return new X25519KeyPair(check32(secret, "X25519 secret key"));
  }

  /** A copy of the 32-byte secret, for encrypted-at-rest storage only. */
  exportSecret(): Buffer {
    return Buffer.from(this.secret);
  }

  /** X25519(sk, pk); an all-zero result (a low-order peer key) is refused, as RFC 9180 requires. */
  dh(peer: X25519PublicKey): Buffer {
    const shared = Buffer.allocUnsafe(32);
    try {
      sodium.crypto_scalarmult(shared, this.secret, peer.raw);
    } catch (cause) {
      // libsodium fails exactly when the result is all zero.
      throw new PeopleError("PEOPLE_BAD_KEY", "X25519 with this public key gives the all-zero secret", {
        cause,
      });
    }
    return shared;
  }

  /** Overwrite the secret; the key pair is unusable afterwards. */
  erase(): void {
    sodium.sodium_memzero(this.secret);
  }
}

export class Ed25519PublicKey {
  readonly raw: Buffer;

  constructor(raw: Uint8Array) {
    this.raw = check32(raw, "Ed25519 public key");
  }

  static fromB64u(text: string): Ed25519PublicKey {
    const raw = fromB64u(text);
    if (!raw) throw new PeopleError("PEOPLE_BAD_KEY", "Ed25519 public key is not base64url");
    return new Ed25519PublicKey(raw);
  }

  /** Plain Ed25519 verification; callers go through signing.ts, which adds the domain label. */
  verifyRaw(message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.byteLength !== 64) return false;
    return sodium.crypto_sign_verify_detached(signature as Buffer, message as Buffer, this.raw);
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
  private readonly seed: Buffer;
  private readonly expanded: Buffer;

  private constructor(seed: Buffer) {
    this.seed = seed;
    const pub = Buffer.allocUnsafeSlow(32);
    this.expanded = Buffer.allocUnsafeSlow(64);
    sodium.crypto_sign_seed_keypair(pub, this.expanded, seed);
    this.publicKey = new Ed25519PublicKey(pub);
  }

  static generate(): Ed25519KeyPair {
    return new Ed25519KeyPair(randomSecret());
  }

  static fromSeed(seed: Uint8Array): Ed25519KeyPair {
    return new Ed25519KeyPair(check32(seed, "Ed25519 seed"));
  }

  /** A copy of the 32-byte seed, for encrypted-at-rest storage only. */
  exportSeed(): Buffer {
    return Buffer.from(this.seed);
  }

  signRaw(message: Uint8Array): Buffer {
    const signature = Buffer.allocUnsafe(64);
    sodium.crypto_sign_detached(signature, message as Buffer, this.expanded);
    return signature;
  }

  /** Overwrite the secrets; the key pair is unusable afterwards. */
  erase(): void {
    sodium.sodium_memzero(this.seed);
    sodium.sodium_memzero(this.expanded);
  }
}
