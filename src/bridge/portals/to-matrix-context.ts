// The lookups the People → Matrix converter takes (model/people-to-matrix.ts):
// the Matrix events a People message points at, in its room (edits and
// redactions only the sender's own), and, for a reply to a bridged poll, the
// poll it may vote in.
import type { MessageId } from "../../people/protocol/ids.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { MatrixEventId } from "../model/matrix-ids.js";
import type { PeopleToMatrixContext } from "../model/people-to-matrix.js";
import type { IncomingMessage } from "../core/ports/people-side.js";
import type { MessageMapStore } from "../core/ports/store.js";
import { referencedMessages } from "./group-service.js";
import { pollForReply } from "./poll-reader.js";

export async function toMatrixContext(
  o: { ghosts: GhostSide; messages: MessageMapStore },
  m: IncomingMessage,
  roomId: string | undefined,
): Promise<PeopleToMatrixContext> {
  const ids = referencedMessages(m.content);
  if (!roomId || ids.length === 0) return { matrixIdOf: () => undefined };
  const own = m.content.type === "edit" || m.content.type === "redaction";
  const rows = await o.messages.messagesInRoom(roomId, ids);
  const map = new Map<MessageId, MatrixEventId>(
    rows
      .filter((r) => !own || r.peopleSender === m.from)
      .map((r) => [r.peopleMessageId as MessageId, r.matrixEventId as MatrixEventId]),
  );
  const c = m.content;
  const target = c.type === "text" && c.reply_to ? map.get(c.reply_to as MessageId) : undefined;
  const poll =
    target && c.type === "text"
      ? await pollForReply(o.ghosts, o.ghosts.ghostId(m.from), roomId, target, c.body)
      : undefined;
  return { matrixIdOf: (id) => map.get(id), pollOf: (id) => (id === target ? poll : undefined) };
}
