// Signed statements (certificates, device lists, server keys, profiles) travel
// as {"body": base64url(exact JSON bytes), ...signatures}. Signatures cover
// those exact bytes, and bodies must be canonical JSON (see parseBody), so the
// bytes that were signed have exactly one reading.
import { z } from "zod";
import { PeopleError, type ErrorCode } from "../errors.js";
import { b64u, fromB64u } from "./bytes.js";
import { Ed25519PublicKey, X25519PublicKey } from "./keys.js";

/** Upper bound for any signed statement body; device lists are the largest. */
export const MAX_SIGNED_BODY = 256 * 1024;

export function encodeBody(value: object): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}

export function decodeB64uField(text: unknown, what: string, code: ErrorCode): Buffer {
  const bytes = typeof text === "string" ? fromB64u(text) : null;
  if (!bytes) throw new PeopleError(code, `${what} is not base64url`);
  return bytes;
}

/** Parse body bytes as JSON and validate them with `schema`; any failure is `code`. */
export function parseBody<T>(bytes: Buffer, schema: z.ZodType<T>, what: string, code: ErrorCode): T {
  if (bytes.byteLength > MAX_SIGNED_BODY) throw new PeopleError(code, `${what} is too large`);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch (cause) {
    throw new PeopleError(code, `${what} is not JSON`, { cause });
  }
  const result = schema.safeParse(json);
  if (!result.success) throw new PeopleError(code, `${what}: ${z.prettifyError(result.error).slice(0, 300)}`);
  // Canonical form: the bytes must be exactly what JSON.stringify gives for the
  // parsed value. This refuses duplicate keys, invalid UTF-8, whitespace, other
  // escapes or number spellings, so one signed byte string has one reading.
  // (Checked after the schema, which bounds the depth stringify walks.)
  if (!Buffer.from(JSON.stringify(json), "utf8").equals(bytes)) {
    throw new PeopleError(code, `${what} is not canonical JSON`);
  }

  return result.data;
}

// Shared zod pieces for bodies.
export const b64uString = z.string().regex(/^[A-Za-z0-9_-]+$/);
export const b64uKey32 = z.string().regex(/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/);
export const timestampMs = z.number().int().min(0).max(8.64e15);
export const signature64 = z.string().regex(/^[A-Za-z0-9_-]{85}[AQgw]$/);

export function edKey(text: string): Ed25519PublicKey {
  return Ed25519PublicKey.fromB64u(text);
}

export function xKey(text: string): X25519PublicKey {
  return X25519PublicKey.fromB64u(text);
}

export function sig(bytes: Uint8Array): string {
  return b64u(bytes);
}
