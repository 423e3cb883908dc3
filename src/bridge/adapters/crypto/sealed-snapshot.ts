// Sealing of snapshot rows: XChaCha20-Poly1305 with a random 24-byte nonce,
// bound (as associated data) to the user and device the row belongs to, so a
// row copied onto another identity does not open.
import sodium from "sodium-native";
import { BridgeError } from "../../core/error-kinds.js";

const NONCE = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
const TAG = sodium.crypto_aead_xchacha20poly1305_ietf_ABYTES;
const VERSION = 1;

// A per-record row is also bound to its record key, so rows cannot be swapped.
const ad = (userId: string, deviceId: string, context?: string) =>
  Buffer.from(
    `people-crypto-snapshot/v1\0${userId}\0${deviceId}${context === undefined ? "" : `\0${context}`}`,
  );

export function sealSnapshot(
  key: Buffer,
  userId: string,
  deviceId: string,
  plain: Buffer,
  context?: string,
): Buffer {
  const nonce = Buffer.alloc(NONCE);
  sodium.randombytes_buf(nonce);
  const out = Buffer.alloc(1 + NONCE + plain.length + TAG);
  out[0] = VERSION;
  nonce.copy(out, 1);
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    out.subarray(1 + NONCE),
    plain,
    ad(userId, deviceId, context),
    null,
    nonce,
    key,
  );
  return out;
}

export function openSnapshot(
  key: Buffer,
  userId: string,
  deviceId: string,
  sealed: Buffer,
  context?: string,
): Buffer {
  if (sealed.length < 1 + NONCE + TAG || sealed[0] !== VERSION)
    throw new BridgeError("snapshot_unreadable", "bad snapshot format");
  const nonce = sealed.subarray(1, 1 + NONCE);
  const body = sealed.subarray(1 + NONCE);
  const plain = Buffer.alloc(body.length - TAG);
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      plain,
      null,
      body,
      ad(userId, deviceId, context),
      nonce,
      key,
    );
  } catch {
    throw new BridgeError(
      "snapshot_unreadable",
      "the crypto snapshot does not open with this key (was encryption.pickle_key changed?)",
    );
  }
  return plain;
}
