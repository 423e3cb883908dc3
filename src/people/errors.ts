// One error taxonomy for the protocol, the People server and the client.
// Each code has an HTTP status and a text safe to show to anyone; the cause
// (which check failed, which key) stays in `cause` for the log and is never
// put in a reply.

export const ERROR_CODES = {
  PEOPLE_BAD_REQUEST: { status: 400, text: "The request is malformed." },
  PEOPLE_BAD_JSON: { status: 400, text: "The request body is not valid JSON of the expected shape." },
  PEOPLE_BAD_ADDRESS: { status: 400, text: "That is not a valid People address." },
  PEOPLE_BAD_ENVELOPE: { status: 400, text: "The envelope is malformed." },
  PEOPLE_DECRYPT_FAILED: { status: 400, text: "The envelope could not be opened." },
  PEOPLE_BAD_SIGNATURE: { status: 400, text: "A signature did not verify." },
  PEOPLE_BAD_KEY: { status: 400, text: "A key is malformed." },
  PEOPLE_CHAIN_INVALID: { status: 400, text: "The device certificate chain is invalid." },
  PEOPLE_CHAIN_GAP: { status: 400, text: "The device certificate chain has a gap." },
  PEOPLE_CHAIN_FORK: { status: 409, text: "The device certificate chain forks from the one already known." },
  PEOPLE_REVOKED: { status: 403, text: "That device has been revoked." },
  PEOPLE_EXPIRED: { status: 400, text: "The envelope or key has expired." },
  PEOPLE_NOT_YET_VALID: { status: 400, text: "The envelope or key is not valid yet." },
  PEOPLE_REPLAYED: { status: 409, text: "This was already received." },
  PEOPLE_WRONG_RECIPIENT: { status: 400, text: "The envelope is not addressed to this recipient." },
  PEOPLE_UNKNOWN_KEY: { status: 400, text: "The key this was sealed to is not known here." },
  PEOPLE_UNKNOWN_RECIPIENT: { status: 404, text: "No such account on this server." },
  PEOPLE_NOT_FOUND: { status: 404, text: "Not found." },
  PEOPLE_METHOD_NOT_ALLOWED: { status: 405, text: "That method is not allowed on this path." },
  /** Client side: the domain does not exist (no DNS name, no .well-known), so it has no People server. */
  PEOPLE_NO_SERVER: { status: 404, text: "There is no People server for that domain." },
  PEOPLE_UNAUTHORIZED: { status: 401, text: "Authentication is required." },
  PEOPLE_FORBIDDEN: { status: 403, text: "That is not allowed." },
  PEOPLE_TOO_LARGE: { status: 413, text: "The request is too large." },
  PEOPLE_RANGE_NOT_SATISFIABLE: { status: 416, text: "Range not satisfiable." },
  PEOPLE_QUOTA_EXCEEDED: { status: 507, text: "The account's storage quota is exhausted." },
  PEOPLE_RATE_LIMITED: { status: 429, text: "Too many requests; slow down." },
  PEOPLE_UNSUPPORTED_VERSION: { status: 400, text: "This protocol version is not supported." },
  PEOPLE_UNAVAILABLE: { status: 503, text: "The service is temporarily unavailable." },
  PEOPLE_INTERNAL: { status: 500, text: "Internal server error." },
  PEOPLE_NOT_IMPLEMENTED: { status: 501, text: "That method is not implemented." },
  /** The account moved to another address; the answer carries the signed move notice (PROTOCOL §20). */
  PEOPLE_MOVED: { status: 410, text: "This account has moved; the move notice names its new address." },
} as const satisfies Record<string, { status: number; text: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class PeopleError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Text safe to show to the caller; never names which check failed inside crypto. */
  readonly publicText: string;
  /** Public members added to the JSON answer (PEOPLE_MOVED carries its signed `notice`). */
  readonly extra: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ErrorCode,
    detail?: string,
    options?: { cause?: unknown; publicText?: string; extra?: Record<string, unknown> },
  ) {
    super(
      detail ? `${code}: ${detail}` : code,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "PeopleError";
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.publicText = options?.publicText ?? ERROR_CODES[code].text;
    this.extra = options?.extra;
  }

  /** The JSON body a server answers with. */
  toJSON(): { errcode: ErrorCode; error: string } {
    return { ...this.extra, errcode: this.code, error: this.publicText };
  }
}

export function isPeopleError(e: unknown, code?: ErrorCode): e is PeopleError {
  return e instanceof PeopleError && (code === undefined || e.code === code);
}
