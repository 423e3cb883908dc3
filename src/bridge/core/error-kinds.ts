// The bridge's two kinds of failure that are not bugs, as BridgeErrors
// (core/errors.ts) with their codes:
// - user_error: the Matrix user asked for something that cannot be done; its
//   `userText` is shown in the room, the detail and cause go to the log only.
// - retry_later: a Matrix event could not be handled for now (the People network,
//   the media's server, the database): the appservice keeps it in the bridge's
//   retry queue and tries it again alone (appservice/event-retry-queue.ts), or,
//   without a queue, fails the transaction so the homeserver sends it again.
//   Handlers throw it only for a bounded time (RetryWindow).
import { BridgeError, isBridgeError } from "./errors.js";

export { BridgeError, bridgeErrorCode, isBridgeError, type BridgeErrorCode } from "./errors.js";

export type UserError = BridgeError & { readonly code: "user_error"; readonly userText: string };

export function userError(userText: string, logDetail?: string, options?: { cause?: unknown }): UserError {
  return new BridgeError("user_error", logDetail ?? userText, { userText, ...options }) as UserError;
}

export function isUserError(err: unknown): err is UserError {
  return isBridgeError(err, "user_error") && typeof err.userText === "string";
}

export function retryLater(message: string, options?: { cause?: unknown }): BridgeError {
  return new BridgeError("retry_later", message, options);
}

export function isRetryLater(err: unknown): err is BridgeError {
  return isBridgeError(err, "retry_later");
}
