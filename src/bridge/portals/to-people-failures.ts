// Which failures of a Matrix event on its way to People are final and which
// may pass, and what the user is told. Pure: no IO, tested on its own.
//
// - permanent: the answer will not change (media gone, refused, too large or
//   damaged; People refused the message; the content cannot be bridged). The
//   ghost says so at once, in reply, and the event counts as handled.
// - transient: the media's server or the People network failed for now, the
//   database is down, the user's People account is not reachable yet. The
//   event is tried again, alone (the bridge's retry queue), for the retry
//   window; past it the user gets `giveUpText`.
import { isPeopleError } from "../../people/errors.js";
import { isTransient } from "../../people/transient.js";
import { isBridgeError, userError, isUserError, isRetryLater } from "../core/error-kinds.js";

export const MEDIA_NOT_FOUND_TEXT =
  "The file could not be fetched: it is not on the homeserver (deleted, or never uploaded).";
export const MEDIA_REFUSED_TEXT =
  "The file could not be fetched: the homeserver refused to give it, or it was damaged.";
export const MEDIA_GAVE_UP_TEXT =
  "The file could not be fetched: the server that holds it kept failing, and the bridge stopped trying.";
export const MEDIA_TOO_LARGE_TEXT = "The file could not be fetched: it is too large for the bridge.";
export const GAVE_UP_TEXT = "The People network could not be reached for too long.";

export function mediaTooLargeText(maxBytes: number): string {
  return `The file could not be fetched: it is larger than ${Math.round(maxBytes / (1024 * 1024))} MB, the most the bridge sends.`;
}

export type ToPeopleFailure =
  | { kind: "permanent"; reason: string; userText: string }
  | { kind: "transient"; reason: string; giveUpText: string };

/** A media download's failure as the user sees it: a user_error BridgeError when final, as it was otherwise. */
export function mediaFailure(err: unknown, maxBytes: number): unknown {
  if (isBridgeError(err, "media_too_large")) return userError(mediaTooLargeText(maxBytes), err.message);
  if (isBridgeError(err, "media_not_found")) return userError(MEDIA_NOT_FOUND_TEXT, err.message);
  if (isBridgeError(err, "media_refused")) return userError(MEDIA_REFUSED_TEXT, err.message);
  return err;
}

export function classifyToPeopleFailure(err: unknown): ToPeopleFailure {
  if (isUserError(err)) return { kind: "permanent", reason: "refused", userText: err.userText };
  if (isBridgeError(err, "media_too_large"))
    return { kind: "permanent", reason: "refused", userText: MEDIA_TOO_LARGE_TEXT };
  if (isBridgeError(err, "media_not_found"))
    return { kind: "permanent", reason: "refused", userText: MEDIA_NOT_FOUND_TEXT };
  if (isBridgeError(err, "media_refused"))
    return { kind: "permanent", reason: "refused", userText: MEDIA_REFUSED_TEXT };
  if (isPeopleError(err) && !isTransient(err))
    return { kind: "permanent", reason: err.code, userText: err.publicText };
  if (
    isBridgeError(err, "media_unavailable") ||
    (isRetryLater(err) && isBridgeError(err.cause, "media_unavailable"))
  )
    return { kind: "transient", reason: "media_unavailable", giveUpText: MEDIA_GAVE_UP_TEXT };
  return { kind: "transient", reason: "unavailable", giveUpText: GAVE_UP_TEXT };
}
