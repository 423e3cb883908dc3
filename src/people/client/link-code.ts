// The one-time code that links a new device, and the two small documents the
// devices exchange under it (the flow is described in link.ts). The code is
// 128 random bits shown as 26 base32 letters; the key derived from it only
// authenticates (HMAC-SHA256), it never encrypts, and never leaves a device.
import { createHmac, randomBytes } from "node:crypto";
import { z } from "zod";
import { PeopleError } from "../errors.js";
import { ctEqual } from "../protocol/bytes.js";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const CODE_BYTES = 16;

export function newLinkCode(): Buffer {
  return randomBytes(CODE_BYTES);
}

/** 26 base32 letters in groups of four, for reading off one screen and typing into another. */
export function formatLinkCode(code: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of code) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out.replace(/(.{4})(?=.)/g, "$1-");
}

/** Case, spaces and dashes are forgiven; anything else, or a wrong length, is refused. */
export function parseLinkCode(text: string): Buffer {
  const clean = text.toLowerCase().replace(/[\s-]/g, "");
  if (clean.length !== 26 || [...clean].some((c) => !ALPHABET.includes(c))) {
    throw new PeopleError("PEOPLE_BAD_REQUEST", "not a link code", {
      publicText: "That is not a valid link code.",
    });
  }
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const c of clean) {
    value = ((value << 5) | ALPHABET.indexOf(c)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  const code = Buffer.from(out.slice(0, CODE_BYTES));
  if (formatLinkCode(code).replace(/-/g, "") !== clean) {
    throw new PeopleError("PEOPLE_BAD_REQUEST", "not a canonical link code", {
      publicText: "That is not a valid link code.",
    });
  }
  return code;
}

export function linkKey(code: Buffer): Buffer {
  return createHmac("sha256", code).update("people/v1 link-code").digest();
}

export function linkMac(key: Buffer, purpose: "request" | "grant", ...parts: Buffer[]): Buffer {
  const h = createHmac("sha256", key).update(`${purpose}\0`);
  for (const p of parts) h.update(p);
  return h.digest();
}

export function macMatches(expected: Buffer, given: string): boolean {
  const raw = Buffer.from(given, "base64url");
  return ctEqual(expected, raw);
}

const b64 = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/)
  .max(8192);

/** New device → old device: its first certificate, signed by itself only, MACed under the code. */
export const linkRequestSchema = z.strictObject({
  people_link_request: z.strictObject({ v: z.literal(1), body: b64, sig_self: b64, mac: b64 }),
});

/** Old device → new device: the account key, inside an envelope wrapped only for the new device. */
export const linkGrantSchema = z.strictObject({
  people_link_grant: z.strictObject({
    v: z.literal(1),
    device: z.string().max(64),
    account_seed: b64,
    mac: b64,
  }),
});

export function parseLinkDocument<T>(schema: z.ZodType<T>, text: string): T | undefined {
  if (!text.startsWith('{"people_link_')) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
