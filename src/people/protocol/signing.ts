// Domain-separated Ed25519: every signature covers "people/v1 <label>\0" and
// then the exact bytes that travel, so a signature made for one purpose can
// never be replayed as another, and nothing is re-serialized before checking.
import { createHash } from "node:crypto";
import { PeopleError } from "../errors.js";
import type { Ed25519KeyPair, Ed25519PublicKey } from "./keys.js";

export const SIGNATURE_LABELS = [
  "device-cert",
  "device-revoke",
  "device-list",
  "server-envelope-key",
  "server-descriptor",
  "inner-message",
  "profile",
  "post",
  "move-notice",
  "auth-challenge",
  "link-code",
  "server-relay",
] as const;

export type SignatureLabel = (typeof SIGNATURE_LABELS)[number];

const prefixes = new Map<SignatureLabel, Buffer>(
  SIGNATURE_LABELS.map((label) => [label, Buffer.from(`people/v1 ${label}\0`, "utf8")]),
);

function signingInput(label: SignatureLabel, bytes: Uint8Array): Buffer {
  return Buffer.concat([prefixes.get(label)!, bytes]);
}

export function signBytes(key: Ed25519KeyPair, label: SignatureLabel, bytes: Uint8Array): Buffer {
  return key.signRaw(signingInput(label, bytes));
}

export function verifyBytes(
  key: Ed25519PublicKey,
  label: SignatureLabel,
  bytes: Uint8Array,
  signature: Uint8Array,
): boolean {
  return key.verifyRaw(signingInput(label, bytes), signature);
}

export function requireSignature(
  key: Ed25519PublicKey,
  label: SignatureLabel,
  bytes: Uint8Array,
  signature: Uint8Array,
  what: string,
): void {
  if (!verifyBytes(key, label, bytes, signature)) {
    throw new PeopleError("PEOPLE_BAD_SIGNATURE", `${what}: signature does not verify`);
  }
}

export function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

export { keyId } from "./keys.js";
