// Reads a Matrix poll from the homeserver for the pure converters, which
// take it as a synchronous lookup: the poll a People reply may vote in, and a
// poll with its votes when it ends. Without the adapter's optional reads
// (GhostSide.roomEvent, references) polls still travel, as plain texts.
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { PollHistory } from "../model/matrix-extras-to-people.js";
import type { MatrixEventId, MatrixUserId } from "../model/matrix-ids.js";
import { POLL_START_TYPES, parsePollStart, type Poll } from "../model/polls.js";

/** Longer than any vote ("1, 2, 3" or an option's text): such a reply is a message, not read as a vote. */
const MAX_VOTE_TEXT = 1024;

const isPollStart = (type: string) => POLL_START_TYPES.some((t) => t === type);

/** The poll `eventId` started, when a People reply of `body` to it may be a vote. */
export async function pollForReply(
  ghosts: GhostSide,
  ghost: MatrixUserId,
  roomId: string,
  eventId: MatrixEventId,
  body: string,
): Promise<Poll | undefined> {
  if (!ghosts.roomEvent || body.trim() === "" || body.length > MAX_VOTE_TEXT || body.includes("\n"))
    return undefined;
  const event = await ghosts.roomEvent(ghost, roomId, eventId);
  return event && isPollStart(event.type) ? parsePollStart(event.content) : undefined;
}

/** The poll `pollId` started and the votes relating to it, for its end's results. */
export async function pollHistory(
  ghosts: GhostSide,
  ghost: MatrixUserId,
  roomId: string,
  pollId: MatrixEventId,
): Promise<PollHistory | undefined> {
  if (!ghosts.roomEvent || !ghosts.references) return undefined;
  const start = await ghosts.roomEvent(ghost, roomId, pollId);
  if (!start || !isPollStart(start.type)) return undefined;
  return { start, responses: await ghosts.references(ghost, roomId, pollId) };
}
