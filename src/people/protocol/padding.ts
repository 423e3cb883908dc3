// Plaintext sizes are padded to buckets so the server and the network learn
// only a coarse size: powers of two from 512 bytes to 64 KiB, then multiples of 64 KiB.
import { PeopleError } from "../errors.js";

export const MIN_BUCKET = 512;
export const LARGE_STEP = 64 * 1024;
export const MAX_PADDED = 1024 * 1024;

export function paddedLength(length: number): number {
  if (length > MAX_PADDED) throw new PeopleError("PEOPLE_TOO_LARGE", "message too large to seal");
  if (length <= MIN_BUCKET) return MIN_BUCKET;
  if (length <= LARGE_STEP) return 2 ** Math.ceil(Math.log2(length));
  return Math.ceil(length / LARGE_STEP) * LARGE_STEP;
}
