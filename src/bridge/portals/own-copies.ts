// What the user sent from their other People devices (their CLI, another
// bridge): every device of an account gets a copy of what the others send, and
// such a copy is shown in the DM portal with its recipient, sent by the ghost of
// the user's own address with a clear marker, so the portal reads as the whole
// conversation. The bridge's own sends never come back (copies go to the other
// devices only), and the message map (own address, message id) stops a copy from
// being bridged twice. With double puppeting (bridge.double_puppet) the copy is
// sent by the user's own Matrix account instead, unmarked, as mautrix bridges
// show it; the ghost with the marker stays for everyone else. Only DMs and messages that become one event (text,
// notices, emotes, edits, reactions, redactions): anything else is said in one
// line. Conversations of several addresses are left to their group room.
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { MatrixEventId } from "../model/matrix-ids.js";
import { peopleToMatrix, type PeopleToMatrixContext } from "../model/people-to-matrix.js";
import type { ParticipantSet } from "../model/participant-set.js";
import { notice, noticeContent } from "../core/notice.js";
import { portalOwnerOf, type IncomingMessage, type PeopleAccount } from "../core/ports/people-side.js";
import type { MessageMapStore } from "../core/ports/store.js";
import type { DoublePuppets } from "../core/ports/puppet-side.js";
import { conversationOf } from "../model/participant-set.js";
import type { PortalService } from "./portal-service.js";
import { handleHistory } from "./history-backfill.js";

/** Put before what the user sent from another device, in the portal. */
export const OWN_DEVICE_MARK = "↪ sent from another device:";

export interface OwnCopyDeps {
  ghosts: GhostSide;
  portals: PortalService;
  messages: MessageMapStore;
  /** Double puppeting, when configured: the copy is sent by the user's own Matrix account. */
  puppets?: DoublePuppets;
  now?: () => number;
  context(m: IncomingMessage, roomId: string | undefined): Promise<PeopleToMatrixContext>;
}

/** An own copy, once: bridged (then recorded) unless the map has it already (the bridge sent it, or a repeat). */
export async function handleOwnCopy(
  deps: OwnCopyDeps,
  account: PeopleAccount,
  m: IncomingMessage,
  log: Logger,
): Promise<void> {
  if (await deps.messages.byMessage(m.from, m.id, portalOwnerOf(account))) return;
  if (await handleHistory(deps, account, m, log)) return;
  const sent = await bridgeOwnCopy(deps, account, m, conversationOf(m.from, m.to), log);
  if (!sent) return;
  await deps.messages.put({
    matrixEventId: sent.eventId,
    peopleMessageId: m.id,
    peopleSender: m.from,
    owner: portalOwnerOf(account),
    roomId: sent.roomId,
    createdAt: (deps.now ?? Date.now)(),
  });
  log.debug({ room: sent.roomId, type: m.content.type }, "an own copy sent to Matrix");
}

/** Brings one own copy into its DM portal; the event id to record, or undefined when nothing was sent. */
export async function bridgeOwnCopy(
  deps: OwnCopyDeps,
  account: PeopleAccount,
  m: IncomingMessage,
  set: ParticipantSet,
  log: Logger,
): Promise<{ roomId: string; eventId: MatrixEventId } | undefined> {
  const peer = set.find((a) => a !== account.address);
  if (set.length !== 2 || !peer) {
    log.debug({ recipients: m.to.length }, "an own copy outside a DM: left to its group room");
    return undefined;
  }
  if (m.content.type === "receipt" || m.content.type === "typing" || m.content.type === "device_link") {
    return undefined;
  }
  const roomId = (await deps.portals.ensurePortal(account.owner, peer, portalOwnerOf(account))).portal.roomId;
  const result = peopleToMatrix(m.content, await deps.context(m, roomId));
  if (result.kind === "receipt" || result.kind === "typing") return undefined;
  if (result.kind === "unbridgeable") {
    log.debug({ reason: result.reason, type: m.content.type }, "an own copy not bridged");
    return undefined;
  }
  const txnKey = `people.${m.from}.${m.id}`;
  const puppet = await puppetFor(deps, account, roomId, log);
  if (puppet) {
    if (result.kind === "redaction") {
      return { roomId, eventId: await puppet.redact(roomId, result.redacts, result.reason, txnKey) };
    }
    if (result.kind === "event") {
      return { roomId, eventId: await puppet.sendEvent(roomId, result.type, { ...result.content }, txnKey) };
    }
  }
  const self = deps.ghosts.ghostId(account.address);
  await ensureInRoom(deps.ghosts, self, account.address, deps.ghosts.ghostId(peer), roomId);
  if (result.kind === "redaction") {
    return { roomId, eventId: await deps.ghosts.redact(self, roomId, result.redacts, result.reason, txnKey) };
  }
  const content =
    result.kind === "event"
      ? marked({ ...result.content })
      : noticeContent(
          notice(`${OWN_DEVICE_MARK} a file${result.blob.name ? ` (${result.blob.name})` : ""}.`),
        );
  const type = result.kind === "event" ? result.type : "m.room.message";
  return { roomId, eventId: await deps.ghosts.sendEvent(self, roomId, type, content, txnKey) };
}

/** The user's double puppet for the room, if set up; a failure to get it is logged and the ghost speaks. */
async function puppetFor(deps: OwnCopyDeps, account: PeopleAccount, roomId: string, log: Logger) {
  if (!deps.puppets) return undefined;
  try {
    return await deps.puppets.senderFor(account.owner, roomId);
  } catch (err) {
    log.warn({ err, room: roomId }, "no double puppet for an own copy: its ghost shows it, marked");
    return undefined;
  }
}

/** The marker before the text of a message (edits keep theirs in `m.new_content`). */
export function marked(content: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...content, "org.people.own_device": true };
  const mark = (c: Record<string, unknown>): Record<string, unknown> => {
    const r = { ...c };
    if (typeof r.body === "string") r.body = `${OWN_DEVICE_MARK} ${r.body}`;
    if (typeof r.formatted_body === "string")
      r.formatted_body = `<em>${OWN_DEVICE_MARK}</em> ${r.formatted_body}`;
    return r;
  };
  const newContent = out["m.new_content"];
  if (newContent && typeof newContent === "object") {
    out["m.new_content"] = mark(newContent as Record<string, unknown>);
  }
  return typeof out.body === "string" ? mark(out) : out;
}

/** The own ghost joins the portal, invited by the peer's ghost (who made the room or joined it). */
export async function ensureInRoom(
  ghosts: GhostSide,
  self: ReturnType<GhostSide["ghostId"]>,
  address: PeopleAddress,
  peer: ReturnType<GhostSide["ghostId"]>,
  roomId: string,
): Promise<void> {
  const members = await ghosts.joinedMembers(peer, roomId);
  if (members.includes(self)) return;
  await ghosts.ensureGhost(self, address);
  await ghosts.invite(peer, roomId, self);
  await ghosts.join(self, roomId);
}
