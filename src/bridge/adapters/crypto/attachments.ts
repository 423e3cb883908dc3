// Encrypted attachments of end-to-end encrypted rooms (the `file` object of
// the client-server spec, v2): AES-256-CTR with a random key and a random
// 64-bit counter block start, and the SHA-256 of the ciphertext, which is
// checked before anything is decrypted.
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { EncryptedFile } from "../../model/matrix-content.js";
import { BridgeError } from "../../core/error-kinds.js";

const unpadded = (b: Buffer) => b.toString("base64").replace(/=+$/, "");

/** Encrypts `plain`; the caller uploads `ciphertext` and puts the mxc URI into `file.url`. */
export function encryptAttachment(plain: Buffer): { ciphertext: Buffer; file: Omit<EncryptedFile, "url"> } {
  const key = randomBytes(32);
  // The spec's iv: 8 random bytes then a zero counter, so the counter cannot wrap.
  const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
  const cipher = createCipheriv("aes-256-ctr", key, iv);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  return {
    ciphertext,
    file: {
      key: {
        kty: "oct",
        key_ops: ["encrypt", "decrypt"],
        alg: "A256CTR",
        k: key.toString("base64url"),
        ext: true,
      },
      iv: unpadded(iv),
      hashes: { sha256: unpadded(createHash("sha256").update(ciphertext).digest()) },
      v: "v2",
    },
  };
}

/** The plaintext of a downloaded encrypted attachment; throws AttachmentUnreadable if its hash does not match. */
export function decryptAttachment(ciphertext: Buffer, file: Omit<EncryptedFile, "url">): Buffer {
  const expected = Buffer.from(file.hashes.sha256, "base64");
  const actual = createHash("sha256").update(ciphertext).digest();
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual))
    throw new BridgeError("attachment_unreadable", "the attachment does not match its hash");
  const key = Buffer.from(file.key.k, "base64url");
  const iv = Buffer.from(file.iv, "base64");
  if (key.length !== 32 || iv.length !== 16)
    throw new BridgeError("attachment_unreadable", "bad attachment key or iv");
  const decipher = createDecipheriv("aes-256-ctr", key, iv);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}
