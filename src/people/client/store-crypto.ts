// Encryption at rest for the client's store. One 32-byte store key, from a
// passphrase (scrypt with a stored random salt) or from a key file, is split
// into an encryption key (XChaCha20-Poly1305, random 24-byte nonces, so no
// nonce bookkeeping across restarts) and an index key (HMAC-SHA256 of lookup
// keys such as addresses, so the database names no contact in clear). Every
// sealed value carries its row's identity as AAD: a value moved to another row
// or table does not open.
import { createHmac } from "node:crypto";
import { chmodSync, closeSync, openSync, readFileSync, writeSync } from "node:fs";
import sodium from "sodium-native";
import { PeopleError } from "../errors.js";

const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
export const SALT_BYTES = 32;

/** Where the store key comes from: a passphrase, or a file of 32 random bytes. */
export type StoreKeySource = { passphrase: string } | { keyFile: string };

export interface KdfParams {
  opslimit: number;
  memlimit: number;
}

/** scrypt's interactive limits (about 16 MiB, tens of milliseconds): the store is opened often. */
export const DEFAULT_KDF: KdfParams = {
  opslimit: sodium.crypto_pwhash_scryptsalsa208sha256_OPSLIMIT_INTERACTIVE,
  memlimit: sodium.crypto_pwhash_scryptsalsa208sha256_MEMLIMIT_INTERACTIVE,
};

export function randomBytesSodium(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  sodium.randombytes_buf(b);
  return b;
}

/** The 32-byte store key. A key file is created (0600, exclusively) when absent. */
export async function deriveStoreKey(source: StoreKeySource, salt: Buffer, kdf: KdfParams): Promise<Buffer> {
  if ("keyFile" in source) return readOrCreateKeyFile(source.keyFile);
  if (source.passphrase.length === 0) throw new PeopleError("PEOPLE_BAD_REQUEST", "empty passphrase");
  const out = Buffer.alloc(KEY_BYTES);
  await sodium.crypto_pwhash_scryptsalsa208sha256_async(
    out,
    Buffer.from(source.passphrase, "utf8"),
    salt,
    kdf.opslimit,
    kdf.memlimit,
  );
  return out;
}

export function readOrCreateKeyFile(path: string): Buffer {
  let fd: number | undefined;
  try {
    fd = openSync(path, "wx", 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  if (fd !== undefined) {
    const key = randomBytesSodium(KEY_BYTES);
    try {
      writeSync(fd, key);
    } finally {
      closeSync(fd);
    }
    chmodSync(path, 0o600);
    return key;
  }
  const key = readFileSync(path);
  if (key.length !== KEY_BYTES) throw new PeopleError("PEOPLE_BAD_KEY", "the store key file is not 32 bytes");
  return key;
}

function subkey(master: Buffer, purpose: string): Buffer {
  return createHmac("sha256", master).update(`people/v1 client-store ${purpose}`).digest();
}

export class StoreCipher {
  private readonly encKey: Buffer;
  private readonly indexKey: Buffer;

  constructor(master: Buffer) {
    if (master.length !== KEY_BYTES) throw new PeopleError("PEOPLE_BAD_KEY", "store key must be 32 bytes");
    this.encKey = subkey(master, "encrypt");
    this.indexKey = subkey(master, "index");
  }

  /** nonce || ciphertext || tag, bound to `aad` (the row's identity). */
  seal(aad: string, plaintext: Buffer): Buffer {
    const nonce = randomBytesSodium(NONCE_BYTES);
    const out = Buffer.allocUnsafe(NONCE_BYTES + plaintext.length + TAG_BYTES);
    nonce.copy(out);
    sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
      out.subarray(NONCE_BYTES),
      plaintext,
      Buffer.from(aad, "utf8"),
      null,
      nonce,
      this.encKey,
    );
    return out;
  }

  open(aad: string, sealed: Buffer): Buffer {
    if (sealed.length < NONCE_BYTES + TAG_BYTES)
      throw new PeopleError("PEOPLE_DECRYPT_FAILED", "stored value too short");
    const out = Buffer.allocUnsafe(sealed.length - NONCE_BYTES - TAG_BYTES);
    try {
      sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        out,
        null,
        sealed.subarray(NONCE_BYTES),
        Buffer.from(aad, "utf8"),
        sealed.subarray(0, NONCE_BYTES),
        this.encKey,
      );
    } catch (cause) {
      throw new PeopleError("PEOPLE_DECRYPT_FAILED", `stored value ${aad.split(":")[0]} does not open`, {
        cause,
      });
    }
    return out;
  }

  sealJson(aad: string, value: unknown): Buffer {
    const plain = Buffer.from(JSON.stringify(value), "utf8");
    try {
      return this.seal(aad, plain);
    } finally {
      sodium.sodium_memzero(plain);
    }
  }

  openJson(aad: string, sealed: Buffer): unknown {
    const plain = this.open(aad, sealed);
    try {
      return JSON.parse(plain.toString("utf8")) as unknown;
    } finally {
      sodium.sodium_memzero(plain);
    }
  }

  /** A keyed hash for lookups and uniqueness: equal inputs match, the input is not readable. */
  index(kind: string, value: string): string {
    return createHmac("sha256", this.indexKey).update(`${kind}\0${value}`).digest("base64url");
  }

  erase(): void {
    sodium.sodium_memzero(this.encKey);
    sodium.sodium_memzero(this.indexKey);
  }
}
