// The bridge's one error type: a code to branch on (no instanceof needed), the
// text the Matrix user may see, the detail for the log, and the cause; an HTTP
// status and Matrix errcode where the failure is an HTTP answer. The People
// side keeps its own taxonomy (src/people/errors.ts).

export const BRIDGE_ERROR_CODES = {
  /** The Matrix user asked for something that cannot be done; `userText` says what. */
  user_error: "the user's request cannot be done",
  /** A Matrix event that could not be handled for now: kept and tried again (RetryWindow). */
  retry_later: "try the event again later",
  media_too_large: "the media is over the bridge's size cap",
  media_not_found: "the homeserver has no such media (404/410, or not an mxc URI)",
  media_refused: "the homeserver refused the media (another 4xx), or its bytes do not match",
  media_unavailable: "the media could not be fetched for now (5xx, 408, 429, network)",
  attachment_unreadable: "an encrypted attachment does not match its hash, key or iv",
  snapshot_unreadable: "a sealed crypto snapshot cannot be opened by this key, user and device",
  registration: "the registration file cannot be read, written or used",
  history: "the homeserver's room history could not be read",
  matrix_http: "the homeserver answered a request with an error",
  appservice_http: "the homeserver's transaction is refused",
  deferred: "a room's catch-up waits for an event kept for later",
  group_refused: "the bridge makes no room for this conversation",
  limit_reached: "a People sender opened too many rooms this hour",
  feature_conflict: "two features claim one type, or share a name",
  /** A provisioning API request refused: `status` and `errcode` are the answer (provisioning/). */
  provisioning_http: "the provisioning API refuses the request",
} as const;

export type BridgeErrorCode = keyof typeof BRIDGE_ERROR_CODES;

export interface BridgeErrorOptions {
  /** Shown to the Matrix user; undefined when the failure is not theirs to see. */
  userText?: string;
  cause?: unknown;
  /** The HTTP status, when the failure is (or becomes) an HTTP answer. */
  status?: number;
  /** The Matrix errcode of that answer. */
  errcode?: string;
}

export class BridgeError extends Error {
  readonly code: BridgeErrorCode;
  readonly userText: string | undefined;
  readonly logDetail: string;
  readonly status: number | undefined;
  readonly errcode: string | undefined;

  constructor(code: BridgeErrorCode, logDetail: string, options: BridgeErrorOptions = {}) {
    super(logDetail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BridgeError";
    this.code = code;
    this.logDetail = logDetail;
    this.userText = options.userText;
    this.status = options.status;
    this.errcode = options.errcode;
  }
}

/** The code of a BridgeError, by shape (works across module copies); undefined for anything else. */
export function bridgeErrorCode(err: unknown): BridgeErrorCode | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { name?: unknown; code?: unknown };
  return e.name === "BridgeError" && typeof e.code === "string" && e.code in BRIDGE_ERROR_CODES
    ? (e.code as BridgeErrorCode)
    : undefined;
}

/** True for a BridgeError with one of `codes` (any code when none is given). */
export function isBridgeError(err: unknown, ...codes: BridgeErrorCode[]): err is BridgeError {
  const c = bridgeErrorCode(err);
  return c !== undefined && (codes.length === 0 || codes.includes(c));
}
