// A People message the bridge cannot show (a call offer, core/features/calls.ts):
// the sender's ghost says so in the DM portal (made when there is none), once:
// the notice is the Matrix event the message maps to, so a redelivery is a
// no-op. Not told in group conversations.
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { ParticipantSet } from "../model/participant-set.js";
import { notice, noticeContent } from "../core/notice.js";
import { portalOwnerOf, type IncomingMessage, type PeopleAccount } from "../core/ports/people-side.js";
import type { MessageMapStore } from "../core/ports/store.js";
import type { PortalService } from "./portal-service.js";

export interface NoticeDeps {
  ghosts: GhostSide;
  portals: PortalService;
  messages: MessageMapStore;
  now?: () => number;
}

/** True when the notice was posted. `text` follows the sender's address. */
export async function answerWithNotice(
  o: NoticeDeps,
  account: PeopleAccount,
  m: IncomingMessage,
  set: ParticipantSet,
  text: string,
  log: Logger,
): Promise<boolean> {
  if (set.length > 2) {
    log.debug({ type: m.content.type }, "not bridged, and not told in a group conversation");
    return false;
  }
  const portal =
    (await o.portals.byPair(account.owner, m.from, portalOwnerOf(account))) ??
    (await o.portals.ensurePortal(account.owner, m.from, portalOwnerOf(account))).portal;
  const ghost = o.ghosts.ghostId(m.from);
  await o.ghosts.ensureGhost(ghost, m.from);
  const eventId = await o.ghosts.sendEvent(
    ghost,
    portal.roomId,
    "m.room.message",
    noticeContent(notice(`${m.from} ${text}`)),
    `people.${m.from}.${m.id}`,
  );
  await o.messages.put({
    matrixEventId: eventId,
    peopleMessageId: m.id,
    peopleSender: m.from,
    owner: portalOwnerOf(account),
    roomId: portal.roomId,
    createdAt: (o.now ?? Date.now)(),
  });
  log.debug({ room: portal.roomId, type: m.content.type }, "a People message answered with a notice");
  return true;
}
