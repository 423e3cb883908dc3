// The provisioning API's answers to refused requests: mautrix-style JSON
// {errcode, error} with an HTTP status, carried as a `provisioning_http`
// BridgeError until the edge (api.ts) writes it. The codes (README,
// "Provisioning API"): Matrix's own where one fits, PEOPLE.* for the rest.
import { BridgeError, isBridgeError, isRetryLater, isUserError } from "../../core/error-kinds.js";

export const ERRCODES = {
  M_MISSING_TOKEN: 401,
  M_UNKNOWN_TOKEN: 401,
  M_FORBIDDEN: 403,
  M_INVALID_PARAM: 400,
  M_NOT_JSON: 400,
  M_BAD_JSON: 400,
  M_NOT_FOUND: 404,
  M_UNRECOGNIZED: 404,
  M_TOO_LARGE: 413,
  M_UNKNOWN: 500,
  /** The address is the user's own. */
  "PEOPLE.OWN_ADDRESS": 400,
  /** The request is well-formed, but the bridge cannot do it (the text says why). */
  "PEOPLE.REFUSED": 400,
  /** The People server of the address cannot be reached now; try again later. */
  "PEOPLE.UNREACHABLE": 502,
  /** The bridge is busy or stopping; try again later. */
  "PEOPLE.TRY_LATER": 503,
  /** An endpoint this bridge does not have yet (login, logout, follow). */
  "PEOPLE.NOT_YET": 501,
} as const;

export type Errcode = keyof typeof ERRCODES;

export function provisioningError(
  errcode: Errcode,
  text: string,
  status: number = ERRCODES[errcode],
): BridgeError {
  return new BridgeError("provisioning_http", text, { status, errcode, userText: text });
}

export interface ErrorAnswer {
  status: number;
  body: { errcode: string; error: string };
  /** Worth an error line in the log (a bug or an outage, not a refusal). */
  unexpected: boolean;
}

/** What any failure becomes on the wire: never a stack or an internal detail. */
export function answerFor(err: unknown): ErrorAnswer {
  if (isBridgeError(err, "provisioning_http")) {
    return {
      status: err.status ?? 400,
      body: { errcode: err.errcode ?? "M_UNKNOWN", error: err.userText ?? err.message },
      unexpected: false,
    };
  }
  if (isUserError(err)) {
    return { status: 400, body: { errcode: "PEOPLE.REFUSED", error: err.userText }, unexpected: false };
  }
  if (isRetryLater(err)) {
    return {
      status: 503,
      body: { errcode: "PEOPLE.TRY_LATER", error: "the bridge cannot do this right now; try again later" },
      unexpected: false,
    };
  }
  const e = err as { type?: unknown; status?: unknown };
  if (e?.type === "entity.too.large" || e?.status === 413) {
    return {
      status: 413,
      body: { errcode: "M_TOO_LARGE", error: "the body is too large" },
      unexpected: false,
    };
  }
  if (e?.type === "request.aborted" || e?.type === "request.size.invalid") {
    return {
      status: 400,
      body: { errcode: "M_NOT_JSON", error: "the body could not be read" },
      unexpected: false,
    };
  }
  return { status: 500, body: { errcode: "M_UNKNOWN", error: "internal error" }, unexpected: true };
}
