// Matrix identifiers the bridge handles, each a branded string with one
// parse function used at the edge (grammar: the Matrix spec's appendix on
// identifiers). Parsing throws PEOPLE_BAD_REQUEST like the protocol's ids;
// the `is…` guards never throw.
import { PeopleError, type ErrorCode } from "../../people/errors.js";

/** `@localpart:server_name`, at most 255 characters. Stable for a user's life. */
export type MatrixUserId = string & { readonly __brand: "MatrixUserId" };
/** `$…`: opaque, chosen by the homeserver, unique within a room. */
export type MatrixEventId = string & { readonly __brand: "MatrixEventId" };
/** `mxc://server_name/media_id`: content in a homeserver's media repository. */
export type MxcUri = string & { readonly __brand: "MxcUri" };

export const MAX_MATRIX_ID = 255;

// server_name = hostname [ ":" port ]; hostname = IPv4 / "[" IPv6 "]" / dns-name
const SERVER_NAME = String.raw`(?:[A-Za-z0-9.-]{1,255}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?`;
const SERVER_NAME_RE = new RegExp(`^${SERVER_NAME}$`);
// Historical user ids (accepted from other servers): any printable ASCII except ':'.
const USER_ID_RE = new RegExp(`^@([\\x21-\\x39\\x3b-\\x7e]+):(${SERVER_NAME})$`);
const EVENT_ID_RE = /^\$[\x21-\x7e]+$/;
const MXC_RE = new RegExp(`^mxc://(${SERVER_NAME})/([A-Za-z0-9_-]+)$`);

function bad(code: ErrorCode, detail: string): never {
  throw new PeopleError(code, detail);
}

export function isMatrixServerName(s: unknown): s is string {
  return typeof s === "string" && s.length <= MAX_MATRIX_ID && SERVER_NAME_RE.test(s);
}

export function isMatrixUserId(s: unknown): s is MatrixUserId {
  return typeof s === "string" && s.length <= MAX_MATRIX_ID && USER_ID_RE.test(s);
}

export function parseMatrixUserId(input: unknown, code: ErrorCode = "PEOPLE_BAD_REQUEST"): MatrixUserId {
  if (!isMatrixUserId(input)) bad(code, "invalid Matrix user id");
  return input;
}

/** The localpart and the server name of a valid user id. */
export function splitMatrixUserId(id: MatrixUserId): { localpart: string; server: string } {
  const colon = id.indexOf(":");
  return { localpart: id.slice(1, colon), server: id.slice(colon + 1) };
}

export function isMatrixEventId(s: unknown): s is MatrixEventId {
  return typeof s === "string" && s.length <= MAX_MATRIX_ID && EVENT_ID_RE.test(s);
}

export function parseMatrixEventId(input: unknown, code: ErrorCode = "PEOPLE_BAD_REQUEST"): MatrixEventId {
  if (!isMatrixEventId(input)) bad(code, "invalid Matrix event id");
  return input;
}

export function isMxcUri(s: unknown): s is MxcUri {
  return typeof s === "string" && s.length <= 1024 && MXC_RE.test(s);
}

export function parseMxcUri(input: unknown, code: ErrorCode = "PEOPLE_BAD_REQUEST"): MxcUri {
  if (!isMxcUri(input)) bad(code, "invalid mxc URI");
  return input;
}
