// The bridge's one error type: a code to branch on (no instanceof needed), the
// text the Matrix user may see, the detail for the log, and the cause. The
// People side keeps its own taxonomy (src/people/errors.ts).

export interface BridgeErrorOptions {
  /** Shown to the Matrix user; undefined when the failure is not theirs to see. */
  userText?: string;
  cause?: unknown;
}

export class BridgeError extends Error {
  readonly code: string;
  readonly userText: string | undefined;
  readonly logDetail: string;

  constructor(code: string, logDetail: string, options: BridgeErrorOptions = {}) {
    super(logDetail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BridgeError";
    this.code = code;
    this.logDetail = logDetail;
    this.userText = options.userText;
  }
}

/** The code of a BridgeError, by shape (works across module copies); undefined for anything else. */
export function bridgeErrorCode(err: unknown): string | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { name?: unknown; code?: unknown };
  return e.name === "BridgeError" && typeof e.code === "string" ? e.code : undefined;
}

export function isBridgeError(err: unknown, code?: string): err is BridgeError {
  const c = bridgeErrorCode(err);
  return c !== undefined && (code === undefined || c === code);
}
