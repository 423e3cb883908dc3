// Verifying a device's certificate chain, and comparing it with what was
// pinned before. The chain is append-only: a new head must extend the pinned
// one; two different certificates for the same (device, seq) are a fork.
import { PeopleError } from "../errors.js";
import { ctEqual } from "./bytes.js";
import { verifyCertSignatures, type DeviceCert } from "./device-cert.js";
import type { Ed25519PublicKey } from "./keys.js";
import { requireSignature } from "./signing.js";
import { decodeB64uField } from "./signed-json.js";

export const MAX_CHAIN_LENGTH = 4096;

/** What a client remembers about a contact's device: the last head it accepted. */
export interface PinnedHead {
  seq: number;
  hash: Buffer;
}

export interface VerifiedChain {
  readonly head: DeviceCert;
  readonly certs: readonly DeviceCert[];
}

/**
 * Verify `certs` (ascending seq) for `accountKey`. Without `pinned` the chain
 * must start at seq 0; with it, it may start at the pinned certificate or
 * earlier, and must contain the pinned certificate unchanged.
 */
export function verifyChain(
  certs: readonly DeviceCert[],
  accountKey: Ed25519PublicKey,
  pinned?: PinnedHead,
): VerifiedChain {
  const first = certs[0];
  if (!first) throw new PeopleError("PEOPLE_CHAIN_INVALID", "empty chain");
  if (certs.length > MAX_CHAIN_LENGTH) throw new PeopleError("PEOPLE_CHAIN_INVALID", "chain too long");
  if (pinned ? first.seq > pinned.seq : first.seq !== 0) {
    throw new PeopleError("PEOPLE_CHAIN_GAP", "chain does not start where it must");
  }
  let prev: DeviceCert | undefined;
  for (const cert of certs) {
    verifyCertSignatures(cert, accountKey);
    if (prev) {
      if (cert.device !== prev.device || cert.address !== prev.address) {
        throw new PeopleError("PEOPLE_CHAIN_INVALID", "chain mixes devices");
      }
      if (cert.seq !== prev.seq + 1) {
        throw new PeopleError(
          cert.seq > prev.seq ? "PEOPLE_CHAIN_GAP" : "PEOPLE_CHAIN_INVALID",
          "seq not consecutive",
        );
      }
      if (!cert.prevHash || !ctEqual(cert.prevHash, prev.hash)) {
        throw new PeopleError("PEOPLE_CHAIN_FORK", "prev_hash does not name the previous certificate");
      }
      if (cert.notBefore < prev.notBefore)
        throw new PeopleError("PEOPLE_CHAIN_INVALID", "validity goes backwards");
      const sigPrev = decodeB64uField(cert.wire.sig_prev, "sig_prev", "PEOPLE_CHAIN_INVALID");
      requireSignature(prev.signKey, "device-cert", cert.bodyBytes, sigPrev, "previous device signature");
    }
    if (pinned && cert.seq === pinned.seq && !ctEqual(cert.hash, pinned.hash)) {
      throw new PeopleError("PEOPLE_CHAIN_FORK", "certificate differs from the pinned one at the same seq");
    }
    prev = cert;
  }
  const head = prev!;
  if (pinned && head.seq < pinned.seq) {
    throw new PeopleError("PEOPLE_CHAIN_FORK", "chain is behind the pinned head (rollback)");
  }
  return { head, certs };
}

/** Two verified certificates for the same device and seq with different bodies prove a fork. */
export function isFork(a: DeviceCert, b: DeviceCert): boolean {
  return a.address === b.address && a.device === b.device && a.seq === b.seq && !ctEqual(a.hash, b.hash);
}

/** Whether `cert` may be used to seal to at `now`. */
export function certValidAt(cert: DeviceCert, now: number): boolean {
  return cert.notBefore <= now && now < cert.notAfter;
}
