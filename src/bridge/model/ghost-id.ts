// The Matrix user that stands for a People address (a "ghost"):
// `@_people_joe=40example.com:<homeserver>`.
//
// Escaping ("=-hex", as the IRC bridge and mautrix do): every UTF-8 byte
// outside [a-z0-9._-] becomes `=` and two lowercase hex digits, so `@` is
// `=40` and `=` itself is `=3d`. A canonical People address only ever needs
// `@` escaped, but the scheme is total and reversible. Decoding is strict:
// the result must be a canonical People address that escapes back to exactly
// the same localpart, so every address has one ghost and every ghost one
// address.
import { PeopleError } from "../../people/errors.js";
import { isPeopleAddress, type PeopleAddress } from "../../people/protocol/address.js";
import { MAX_MATRIX_ID, isMatrixServerName, isMatrixUserId, type MatrixUserId } from "./matrix-ids.js";

export const DEFAULT_GHOST_PREFIX = "_people_";

const PLAIN = /^[a-z0-9._-]$/;
const ESCAPED_BODY = /^(?:[a-z0-9._-]|=[0-9a-f]{2})+$/;
const PREFIX_OK = /^[a-z0-9._=/+-]{1,64}$/;

/** A prefix is a non-empty run of characters Matrix allows in a localpart. */
export function isValidGhostPrefix(prefix: string): boolean {
  return PREFIX_OK.test(prefix);
}

function checkPrefix(prefix: string): void {
  if (!isValidGhostPrefix(prefix)) throw new RangeError("ghost prefix must match [a-z0-9._=/+-]{1,64}");
}

function checkServerName(server: string): void {
  if (!isMatrixServerName(server)) throw new RangeError("not a Matrix server name");
}

const encoder = new TextEncoder();

/** `=`-hex escaping of any string into Matrix localpart characters. */
export function escapeLocalpart(text: string): string {
  let out = "";
  for (const ch of text) {
    if (PLAIN.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of encoder.encode(ch)) out += `=${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** The inverse of escapeLocalpart, or null for malformed escapes or invalid UTF-8. */
export function unescapeLocalpart(escaped: string): string | null {
  if (!ESCAPED_BODY.test(escaped)) return null;
  const bytes: number[] = [];
  for (let i = 0; i < escaped.length; i++) {
    if (escaped[i] === "=") {
      bytes.push(parseInt(escaped.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(escaped.charCodeAt(i));
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return null;
  }
}

export function ghostLocalpart(address: PeopleAddress, prefix: string = DEFAULT_GHOST_PREFIX): string {
  checkPrefix(prefix);
  return prefix + escapeLocalpart(address);
}

/**
 * The ghost's full user id. Throws PEOPLE_BAD_ADDRESS when the result would
 * pass Matrix's 255-character limit (only addresses near the 254-octet
 * maximum), and RangeError for an invalid prefix or server name (config bugs).
 */
export function ghostUserId(
  address: PeopleAddress,
  homeserverDomain: string,
  prefix: string = DEFAULT_GHOST_PREFIX,
): MatrixUserId {
  checkServerName(homeserverDomain);
  const id = `@${ghostLocalpart(address, prefix)}:${homeserverDomain}`;
  if (id.length > MAX_MATRIX_ID || !isMatrixUserId(id)) {
    throw new PeopleError("PEOPLE_BAD_ADDRESS", "address too long to be a Matrix user id", {
      publicText: "That People address is too long to appear on Matrix.",
    });
  }
  return id;
}

/** The People address a ghost stands for; null for anything that is not exactly a ghost. Never throws. */
export function addressFromGhostUserId(
  userId: string,
  homeserverDomain: string,
  prefix: string = DEFAULT_GHOST_PREFIX,
): PeopleAddress | null {
  if (!isMatrixUserId(userId) || !isValidGhostPrefix(prefix)) return null;
  const head = `@${prefix}`;
  const tail = `:${homeserverDomain}`;
  if (!userId.startsWith(head) || !userId.endsWith(tail)) return null;
  const body = userId.slice(head.length, userId.length - tail.length);
  const decoded = unescapeLocalpart(body);
  if (decoded === null || !isPeopleAddress(decoded)) return null;
  return escapeLocalpart(decoded) === body ? decoded : null;
}

/** Escape for a regex that JavaScript (with or without the u flag) and Python both accept. */
function regexEscape(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&");
}

/** The `users` namespace regex of the appservice registration; it matches every ghost id. */
export function ghostNamespaceRegex(homeserverDomain: string, prefix: string = DEFAULT_GHOST_PREFIX): string {
  checkServerName(homeserverDomain);
  checkPrefix(prefix);
  return `^@${regexEscape(prefix)}[a-z0-9._=\\-/]+:${regexEscape(homeserverDomain)}$`;
}
