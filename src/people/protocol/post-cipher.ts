// Group post ciphertext (PROTOCOL §16.10): a post's signed body sealed for
// one group epoch, as the feed's `ciphertext` (base64url of):
//   "PPL" 01 "P" (5) || wrap nonce (24) || wrap (48) || body ciphertext
//   A    = header || u8 len(author) || author || post id (16) || group id (16) || u64 epoch
//   wrap = XChaCha20-Poly1305(epoch key, wrap nonce, aad = A, post key)
//   body ciphertext = ChaCha20-Poly1305-IETF(post key, nonce = 12 zero bytes, aad = A, P)
//   P    = u32 L || body (L bytes) || signature (64) || zero padding to padded_length(68 + L)
// The post key is 32 fresh random bytes per post and encrypts exactly one
// plaintext, so the zero nonce is safe (as the content key of §9.3). The
// epoch key wraps many post keys, hence XChaCha20 with a random 24-byte nonce.
// The AAD binds the ciphertext to its author, post id, group and epoch, and
// the signed body repeats them, so a server cannot move a post elsewhere.
import sodium from "sodium-native";
import { PeopleError } from "../errors.js";
import { b64u, fromB64u, u32, u64 } from "./bytes.js";
import { aeadOpen, aeadSeal } from "./hpke.js";
import { randomSecret, type Ed25519KeyPair } from "./keys.js";
import { paddedLength } from "./padding.js";
import type { PostBody } from "./post-body.js";
import { signBytes } from "./signing.js";

const HEADER = Buffer.from([0x50, 0x50, 0x4c, 0x01, 0x50]); // "PPL" 1 "P"
const WRAP_NONCE = 24;
const WRAP_LEN = 32 + 16;
const BODY_AT = HEADER.length + WRAP_NONCE + WRAP_LEN;
const ZERO_NONCE = Buffer.alloc(12);

/** The key of one group epoch (the client's groups hold it). */
export interface PostEpochKey {
  group: string;
  epoch: number;
  key: Buffer;
}

function postAad(author: string, postId: string, group: string, epoch: number): Buffer {
  const a = Buffer.from(author, "utf8");
  return Buffer.concat([
    HEADER,
    Buffer.from([a.length]),
    a,
    Buffer.from(postId, "base64url"),
    Buffer.from(group, "base64url"),
    u64(epoch),
  ]);
}

/** Sign `body` with the author's account key and seal it under the epoch key. */
export function sealGroupPost(body: PostBody, epochKey: PostEpochKey, accountKey: Ed25519KeyPair): string {
  const bytes = Buffer.from(JSON.stringify(body), "utf8");
  const sig = signBytes(accountKey, "post", bytes);
  const plaintext = Buffer.alloc(paddedLength(4 + bytes.length + 64));
  u32(bytes.length).copy(plaintext, 0);
  bytes.copy(plaintext, 4);
  sig.copy(plaintext, 4 + bytes.length);
  const aad = postAad(body.author, body.id, epochKey.group, epochKey.epoch);
  const postKey = randomSecret();
  try {
    const nonce = Buffer.allocUnsafe(WRAP_NONCE);
    sodium.randombytes_buf(nonce);
    const wrap = Buffer.allocUnsafe(WRAP_LEN);
    sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(wrap, postKey, aad, null, nonce, epochKey.key);
    const sealed = aeadSeal(postKey, ZERO_NONCE, aad, plaintext);
    return b64u(Buffer.concat([HEADER, nonce, wrap, sealed]));
  } finally {
    sodium.sodium_memzero(postKey);
    sodium.sodium_memzero(plaintext);
  }
}

/** Open a group post's ciphertext: its signed body bytes and the signature (not verified here). */
export function openGroupPost(
  ciphertext: string,
  epochKey: PostEpochKey,
  author: string,
  postId: string,
): { bytes: Buffer; sig: Buffer } {
  const raw = fromB64u(ciphertext);
  if (!raw || raw.length < BODY_AT + 16 || !raw.subarray(0, HEADER.length).equals(HEADER))
    throw new PeopleError("PEOPLE_BAD_ENVELOPE", "not a group post ciphertext");
  if (!/^[A-Za-z0-9_-]{21}[AQgw]$/.test(postId))
    throw new PeopleError("PEOPLE_BAD_JSON", "malformed post id");
  const aad = postAad(author, postId, epochKey.group, epochKey.epoch);
  const postKey = Buffer.alloc(32);
  let plaintext: Buffer;
  try {
    try {
      sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        postKey,
        null,
        raw.subarray(HEADER.length + WRAP_NONCE, BODY_AT),
        aad,
        raw.subarray(HEADER.length, HEADER.length + WRAP_NONCE),
        epochKey.key,
      );
    } catch (cause) {
      throw new PeopleError("PEOPLE_DECRYPT_FAILED", "the post key does not unwrap", { cause });
    }
    plaintext = aeadOpen(postKey, ZERO_NONCE, aad, raw.subarray(BODY_AT));
  } finally {
    sodium.sodium_memzero(postKey);
  }
  const length = plaintext.length >= 4 ? plaintext.readUInt32BE(0) : -1;
  if (length < 0 || 68 + length > plaintext.length || paddedLength(68 + length) !== plaintext.length)
    throw new PeopleError("PEOPLE_BAD_ENVELOPE", "malformed group post plaintext");
  for (let i = 68 + length; i < plaintext.length; i++)
    if (plaintext[i] !== 0) throw new PeopleError("PEOPLE_BAD_ENVELOPE", "group post padding is not zero");
  return {
    bytes: Buffer.from(plaintext.subarray(4, 4 + length)),
    sig: Buffer.from(plaintext.subarray(4 + length, 68 + length)),
  };
}
