// Byte helpers shared by the codecs: base64url, fixed-width integers, and a
// constant-time compare for anything secret or authenticating.
import { timingSafeEqual } from "node:crypto";

export function b64u(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

const B64U = /^[A-Za-z0-9_-]*$/;

/** Strict base64url (no padding, no other alphabet); returns null when malformed. */
export function fromB64u(text: string): Buffer | null {
  if (!B64U.test(text) || text.length % 4 === 1) return null;
  const out = Buffer.from(text, "base64url");
  // Reject non-canonical encodings (stray low bits in the last character).
  return out.toString("base64url") === text ? out : null;
}

/**
 * A copy of `bytes` in memory of its own. Node.js cuts small Buffers (under 4 KiB) out of shared 8 KiB
 * slabs, and one long-lived slice keeps its whole slab alive: keys and certificates held for as long
 * as an account is open (thousands of them in the bridge) pinned ~30 KiB of slabs per account.
 */
export function owned(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(bytes.byteLength);
  out.set(bytes);
  return out;
}

export function u16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n);
  return b;
}

export function u32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
}

export function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

export function utf8(text: string): Buffer {
  return Buffer.from(text, "utf8");
}

/** Constant-time equality; different lengths are unequal without comparing contents. */
export function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

export function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (const x of b) acc |= x;
  return acc === 0;
}
