// History handed to the bridge's device when it was linked (PROTOCOL §11.1.2):
// the archive's DM messages go into their portals in order, each at its
// original time (appservice timestamp massaging), sent by the peer's ghost or,
// for what the user sent, by the ghost of their own address; a notice as the
// conversation's first line says it is history, and from which address. Every
// message is recorded in the message map (sender, message id) after it is in
// the room, so a repeated transfer, or a message that also arrived live,
// bridges nothing twice. What becomes no single event (files, group
// conversations) is left out and counted in the log.
import { isPeopleError } from "../../people/errors.js";
import {
  parseHistoryArchive,
  parseHistoryPointer,
  type HistoryMessage,
} from "../../people/protocol/history-archive.js";
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { Logger } from "../core/ports/logger.js";
import { conversationOf } from "../model/participant-set.js";
import { peopleToMatrix } from "../model/people-to-matrix.js";
import { notice, noticeContent } from "../core/notice.js";
import { portalOwnerOf, type IncomingMessage, type PeopleAccount } from "../core/ports/people-side.js";
import { ensureInRoom, marked, type OwnCopyDeps } from "./own-copies.js";

/** The line before a conversation's transferred history; followed by the address and a date. */
export const HISTORY_MARK = "History from another device of";

/** True when `m` was a history pointer (handled, or refused and logged): nothing else to do with it. */
export async function handleHistory(
  deps: OwnCopyDeps,
  account: PeopleAccount,
  m: IncomingMessage,
  log: Logger,
): Promise<boolean> {
  if (m.content.type !== "device_link") return false;
  const pointer = parseHistoryPointer(m.content.document);
  if (!pointer) return false;
  if (pointer.device !== account.device) return true; // for another new device of the account
  let messages: readonly HistoryMessage[];
  try {
    const bytes = await account.downloadAttachment(pointer.blob);
    messages = parseHistoryArchive(bytes, { address: account.address, device: pointer.device }).messages;
  } catch (err) {
    if (isPeopleError(err, "PEOPLE_BAD_REQUEST")) {
      log.warn({ code: err.code }, "a history archive was refused: nothing of it is bridged");
      return true;
    }
    throw err; // the blob could not be fetched now: the People client tries again
  }
  let bridged = 0;
  let skipped = 0;
  const opened = new Set<string>();
  for (const h of messages) {
    if (await deps.messages.byMessage(h.from, h.id, portalOwnerOf(account))) continue;
    const set = conversationOf(h.from as PeopleAddress, h.to as PeopleAddress[]);
    const peer = set.find((a) => a !== account.address);
    const incoming: IncomingMessage = {
      ...h,
      id: h.id as IncomingMessage["id"],
      from: h.from as PeopleAddress,
      to: set,
    };
    if (set.length !== 2 || !peer) {
      skipped++;
      continue;
    }
    const roomId = (await deps.portals.ensurePortal(account.owner, peer, portalOwnerOf(account))).portal
      .roomId;
    const result = peopleToMatrix(h.content, await deps.context(incoming, roomId));
    if (result.kind !== "event") {
      skipped++;
      continue;
    }
    const peerGhost = deps.ghosts.ghostId(peer);
    await deps.ghosts.ensureGhost(peerGhost, peer);
    if (!opened.has(roomId)) {
      opened.add(roomId);
      const line = `${HISTORY_MARK} ${account.address}, up to ${new Date(messages.at(-1)!.ts).toISOString()}:`;
      await deps.ghosts.sendEvent(
        peerGhost,
        roomId,
        "m.room.message",
        { ...noticeContent(notice(line)), "org.people.history": true },
        `history.${pointer.blob.id}.${roomId}`,
        { ts: h.ts },
      );
    }
    const self = deps.ghosts.ghostId(account.address);
    if (h.outgoing) await ensureInRoom(deps.ghosts, self, account.address, peerGhost, roomId);
    const content = {
      ...(h.outgoing ? marked({ ...result.content }) : result.content),
      "org.people.history": true,
    };
    const eventId = await deps.ghosts.sendEvent(
      h.outgoing ? self : peerGhost,
      roomId,
      result.type,
      content,
      `people.${h.from}.${h.id}`,
      { ts: h.ts },
    );
    await deps.messages.put({
      matrixEventId: eventId,
      peopleMessageId: h.id,
      peopleSender: h.from,
      owner: portalOwnerOf(account),
      roomId,
      createdAt: (deps.now ?? Date.now)(),
    });
    bridged++;
  }
  log.info(
    { bridged, skipped, total: messages.length },
    "history from another device brought into the portals",
  );
  return true;
}
