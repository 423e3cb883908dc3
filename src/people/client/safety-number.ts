// Safety numbers: 60 decimal digits two people compare (aloud, or as a QR
// code) to check that each holds the other's real account key. The scheme is
// Signal's numeric fingerprint: per account, 5200 iterations of SHA-512 over
// the account key and address, 30 digits from the first 30 bytes; the two
// halves are sorted, so both sides compute the same number.
import { createHash } from "node:crypto";
import type { PeopleAddress } from "../protocol/address.js";
import type { Ed25519PublicKey } from "../protocol/keys.js";

const ITERATIONS = 5200;
const PREFIX = Buffer.from("people/v1 safety-number\0", "utf8");

export interface AccountIdentity {
  address: PeopleAddress;
  accountKey: Ed25519PublicKey;
}

function half(a: AccountIdentity): string {
  const key = a.accountKey.raw;
  let hash = createHash("sha512").update(PREFIX).update(key).update(a.address, "utf8").digest();
  for (let i = 0; i < ITERATIONS; i++) hash = createHash("sha512").update(hash).update(key).digest();
  let digits = "";
  for (let i = 0; i < 30; i += 5) {
    // Five bytes as a 40-bit integer, reduced to five digits (the bias is negligible at 2^40 / 10^5).
    const chunk = hash.readUIntBE(i, 5);
    digits += String(chunk % 100_000).padStart(5, "0");
  }
  return digits;
}

/** 60 digits in 12 groups of 5, the same whichever side computes it. */
export function fingerprint(a: AccountIdentity, b: AccountIdentity): string {
  const [x, y] = [half(a), half(b)].sort();
  return `${x}${y}`.replace(/(\d{5})(?=\d)/g, "$1 ");
}
