// Realtime session keys (PROTOCOL §9, §11): the transcript that binds an
// ephemeral X25519 exchange to both devices, and the two direction keys.
//
//   T   = "people/v1 rt-transcript\0" || session id (16 bytes)
//         || u8 len || media
//         || u8 len || caller address || u8 len || caller device id || caller device signing key (32)
//         || u8 len || callee address || u8 len || callee device id || callee device signing key (32)
//         || caller ephemeral key (32) || callee ephemeral key (32)
//   IKM = X25519(own ephemeral secret, peer's ephemeral key)  (an all-zero result is refused)
//   K_c = HKDF-SHA256(IKM, salt = SHA-256(T), info = "people/v1 rt caller-to-callee", 32)
//   K_r = HKDF-SHA256(IKM, salt = SHA-256(T), info = "people/v1 rt callee-to-caller", 32)
//
// The signing keys in T are those of the certificates that verified the
// offer and the answer. Ephemeral secrets are erased as soon as the keys are
// derived, and the session keys when the session ends (forward secrecy).
import { hkdfSync } from "node:crypto";
import { PeopleError } from "../errors.js";
import { sha256 } from "./signing.js";

const TRANSCRIPT_PREFIX = Buffer.from("people/v1 rt-transcript\0", "utf8");
export const INFO_CALLER_TO_CALLEE = "people/v1 rt caller-to-callee";
export const INFO_CALLEE_TO_CALLER = "people/v1 rt callee-to-caller";

export interface RtIdentity {
  address: string;
  device: string;
  /** The Ed25519 signing key whose certificate verified the device's offer or answer. */
  signKey: Buffer;
}

function lengthPrefixed(text: string): Buffer {
  const b = Buffer.from(text, "utf8");
  if (b.length > 255) throw new PeopleError("PEOPLE_BAD_REQUEST", "transcript field too long");
  return Buffer.concat([Buffer.from([b.length]), b]);
}

/** The session transcript T (see the top of this file). */
export function rtTranscript(o: {
  session: string;
  media: string;
  caller: RtIdentity;
  callee: RtIdentity;
  callerEph: Buffer;
  calleeEph: Buffer;
}): Buffer {
  const id = Buffer.from(o.session, "base64url");
  if (id.length !== 16) throw new PeopleError("PEOPLE_BAD_REQUEST", "session id is not 16 bytes");
  const party = (p: RtIdentity): Buffer[] => [lengthPrefixed(p.address), lengthPrefixed(p.device), p.signKey];
  return Buffer.concat([
    TRANSCRIPT_PREFIX,
    id,
    lengthPrefixed(o.media),
    ...party(o.caller),
    ...party(o.callee),
    o.callerEph,
    o.calleeEph,
  ]);
}

/** The two direction keys from the X25519 shared secret and the transcript. */
export function deriveSessionKeys(sharedSecret: Buffer, transcript: Buffer): { c2s: Buffer; s2c: Buffer } {
  const salt = sha256(transcript);
  const key = (info: string) => Buffer.from(hkdfSync("sha256", sharedSecret, salt, info, 32));
  return { c2s: key(INFO_CALLER_TO_CALLEE), s2c: key(INFO_CALLEE_TO_CALLER) };
}
