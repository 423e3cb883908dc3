// People → Matrix failures, sorted (issue 16): a transient one (the network, a
// server that is down or overloaded) is worth trying again, for that message
// alone; a permanent one (the file does not exist, does not match its hash, is
// too large, cannot be decrypted, a malformed reference) is an answer, and the
// room is told instead. Pure: no IO, so the rules are tested on their own.
import { isPeopleError } from "../../people/errors.js";
import { isTransient } from "../../people/transient.js";

export type Failure = { kind: "transient" } | { kind: "permanent"; why: string };

const permanent = (why: string): Failure => ({ kind: "permanent", why });

/** Why an attachment could not be fetched from People (for the room), or transient when worth retrying. */
export function classifyAttachmentFailure(err: unknown): Failure {
  if (!isPeopleError(err)) return matrixFailure(err);
  if (isTransient(err)) return { kind: "transient" };
  switch (err.code) {
    case "PEOPLE_NOT_FOUND":
      return permanent("the file could not be fetched (it does not exist on its server)");
    case "PEOPLE_TOO_LARGE":
      return permanent("the file is too large");
    case "PEOPLE_DECRYPT_FAILED":
    case "PEOPLE_BAD_SIGNATURE":
      return permanent("the file does not match what was sent, so it could not be decrypted");
    case "PEOPLE_BAD_KEY":
    case "PEOPLE_BAD_ENVELOPE":
    case "PEOPLE_BAD_REQUEST":
      return permanent("the file's reference is malformed or the file is damaged");
    case "PEOPLE_FORBIDDEN":
    case "PEOPLE_UNAUTHORIZED":
      return permanent("the file's server refused to give it");
    default:
      return permanent("the file could not be fetched");
  }
}

/**
 * A failure on the Matrix side (uploading the file): the homeserver refusing
 * the file for its size is an answer; anything else (down, 5xx, rate limits)
 * may pass.
 */
function matrixFailure(err: unknown): Failure {
  const e = err as { errcode?: unknown; body?: { errcode?: unknown } } | null;
  const errcode = typeof e?.errcode === "string" ? e.errcode : e?.body?.errcode;
  if (errcode === "M_TOO_LARGE") return permanent("the file is too large for this homeserver");
  return { kind: "transient" };
}

/** The notice for a file that could not be brought into the room. */
export function unfetchableText(from: string, why: string, name?: string): string {
  return `${from} sent a file${name ? ` (${name})` : ""} that could not be bridged: ${why}.`;
}

/** The notice for a message given up after retrying for the whole window. */
export function gaveUpText(from: string, windowMs: number): string {
  const minutes = Math.max(1, Math.round(windowMs / 60_000));
  return (
    `A message from ${from} could not be bridged: it was retried for ${minutes} minute` +
    `${minutes === 1 ? "" : "s"} and kept failing. It is kept in the bridge's People inbox.`
  );
}
