// People → Matrix in a portal (DM or group): a message that arrived for a Matrix user's
// People account is converted by the pure model and sent into the portal as
// the sender's ghost (the portal made first when there is none). The send
// carries a transaction id derived from the sender and message id, so a
// redelivery the homeserver still remembers returns the same event; the
// mapping recorded afterwards makes any later redelivery a no-op. Only then
// does the handler resolve, and only then does the People client acknowledge
// the envelope to its server (DESIGN §3: mail is acknowledged only after it
// reached the room).
//
// Failures are sorted (delivery-failure.ts). A permanent one (an attachment
// that does not exist, does not match its hash, is too large or cannot be
// decrypted) is answered in the room: the ghost posts the caption, if any, and
// a notice saying what could not be bridged and why; the message is recorded
// and the conversation moves on. A transient one is thrown: the People client
// sets the message aside and tries it again on its own, with backoff, while
// later messages flow (delivery-queue.ts), for a bounded time (RetryWindow).
// Past the window the ghost posts a notice into the DM portal, if there is one,
// and the message is let go (it stays in the account's local inbox).
//
// Attachments: the bytes are fetched from People (decrypted, hash checked),
// uploaded to the media repository as the ghost, and sent as an m.image,
// m.file, m.audio or m.video, with its thumbnail when it has a usable one. Receipts and typing:
// best effort, only into an existing portal, failures logged and dropped, never retried.
//
// Conversations with several participants go to their group room
// (group-service.ts); each account in the conversation receives its own copy,
// and a per-message lock plus the mapping bridge it once. A conversation the
// bridge refuses (too many addresses, an address without a People account) is
// logged, counted `refused` and acknowledged, with nothing written. Messages from
// the account's own other devices go to own-copies.ts.
import type { BlobRef } from "../../people/protocol/messages.js";
import { isPeopleError } from "../../people/errors.js";
import { errorCode, isTransient } from "../../people/transient.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import { uploadAsGhost } from "./ghost-upload.js";
import type { BridgeMetrics } from "../core/ports/metrics.js";
import type { MatrixEventId } from "../model/matrix-ids.js";
import type { MatrixMediaSource } from "../model/matrix-content.js";
import {
  attachmentToMatrix,
  peopleToMatrix,
  type AttachmentContent,
  type PeopleToMatrixContext,
  type ToMatrix,
} from "../model/people-to-matrix.js";
import { notice, noticeContent } from "../core/notice.js";
import { portalOwnerOf, type IncomingMessage, type PeopleAccount } from "../core/ports/people-side.js";
import { KeyedLock } from "../../shared/keyed-lock.js";
import { conversationOf, type ParticipantSet } from "../model/participant-set.js";
import type { MessageMapStore } from "../core/ports/store.js";
import { referencedMessages, type GroupService } from "./group-service.js";
import type { PortalService } from "./portal-service.js";
import { RetryWindow } from "./retry-window.js";
import { classifyAttachmentFailure, gaveUpText, unfetchableText } from "./delivery-failure.js";
import { bridgeRegistry } from "../core/features/index.js";
import type { FeatureRegistry } from "../core/router.js";
import { answerWithNotice } from "./people-notices.js";
import { handleOwnCopy } from "./own-copies.js";
import type { DoublePuppets } from "../core/ports/puppet-side.js";
import { toMatrixContext } from "./to-matrix-context.js";
import { isBridgeError } from "../core/error-kinds.js";

export interface PeopleToMatrixHooks {
  /** Test hook: runs after the Matrix send, before the mapping is recorded (a throw simulates a crash there). */
  afterMatrixSend?(message: IncomingMessage): Promise<void> | void;
}

export interface PeopleToMatrixOptions {
  ghosts: GhostSide;
  portals: PortalService;
  /** Group conversations (without it, conversations of several addresses are not bridged). */
  groups?: GroupService;
  messages: MessageMapStore;
  log: Logger;
  metrics: BridgeMetrics;
  retry?: RetryWindow;
  hooks?: PeopleToMatrixHooks;
  now?: () => number;
  /** True while the homeserver is known to be away: a failure then does not count toward giving up. */
  homeserverDown?: () => boolean;
  /** The largest attachment brought into Matrix (default 100 MB). */
  maxMediaBytes?: number;
  /** Which People types are bridged, answered or ignored (default: the bridge's features). */
  registry?: FeatureRegistry;
  /** Double puppeting (own copies sent by the user's own Matrix account), when configured. */
  puppets?: DoublePuppets;
}

const DEFAULT_MAX_MEDIA_BYTES = 100 * 1024 * 1024;
/** Follows the sender's address. */
export const EMPTY_TEXT = "sent an empty message (only spaces): there is nothing to show.";
/** The caption of a file that could not be brought here is sent alone, cut to this (well inside Matrix's 64 KiB). */
const MAX_CAPTION = 16_000;

export class PeopleToMatrixFlow {
  private readonly retry: RetryWindow;
  private readonly now: () => number;
  private readonly messageLock = new KeyedLock();
  private readonly registry: FeatureRegistry;

  constructor(private readonly o: PeopleToMatrixOptions) {
    this.retry = o.retry ?? new RetryWindow();
    this.registry = o.registry ?? bridgeRegistry();
    this.now = o.now ?? Date.now;
  }

  /** The accounts' message handler: resolves once the message is in Matrix (or will never be). */
  readonly handle = async (account: PeopleAccount, m: IncomingMessage): Promise<void> => {
    const log = this.o.log.child({ user: account.owner, from: m.from, message: m.id });
    if (m.from === account.address) {
      const deps = { ...this.o, context: (x: IncomingMessage, r?: string) => this.context(x, r) };
      return this.messageLock.run(`${m.from}\n${m.id}`, () => handleOwnCopy(deps, account, m, log));
    }
    const set = conversationOf(m.from, m.to);
    if (set.length > 2) {
      if (!this.o.groups) {
        this.count("not_bridged");
        log.info({ recipients: m.to.length }, "a conversation with several addresses: not bridged");
        return;
      }
      // A bridged Matrix user's message: it was written in the group room itself.
      if (await this.o.groups.bridgedUser(m.from)) return;
    }
    const key = `${m.from}\n${m.id}`;
    // Each bridged account in a group gets its own copy: one at a time, so the first one's mapping stops the rest.
    await this.messageLock.run(key, async () => {
      // Keyed by the receiving address: another Matrix user's outgoing copy is not this one's.
      if (await this.o.messages.byMessage(m.from, m.id, portalOwnerOf(account))) {
        this.count("duplicate");
        return;
      }
      const received = this.o.metrics.latency.startTimer({ direction: "to_matrix" });
      try {
        if (await this.bridge(account, m, set, log)) received();
        this.retry.succeeded(key);
      } catch (err) {
        if (isBridgeError(err, "group_refused", "limit_reached")) {
          this.count("refused");
          this.o.metrics.failed("to_matrix", "refused");
          log.warn({ why: err.message }, "a group conversation was refused; the message is not bridged");
          return;
        }
        // A homeserver outage holds every message alike: the window starts once it is back.
        if (this.o.homeserverDown?.()) this.retry.succeeded(key);
        else if (!this.retry.failed(key)) {
          this.count("failed");
          this.o.metrics.failed("to_matrix", "gave_up");
          log.error({ err }, "gave up on a People message: it did not reach Matrix in time");
          await this.gaveUpNotice(account, m, set, log);
          return;
        }
        this.o.metrics.failed("to_matrix", "retry");
        log.warn({ err }, "a People message did not reach Matrix; it is tried again on its own");
        throw err;
      }
    });
  };

  /** The group room of the message, when it belongs to one; undefined for a DM. */
  private async groupRoom(
    account: PeopleAccount,
    m: IncomingMessage,
    set: ParticipantSet,
  ): Promise<{ roomId: string | undefined } | undefined> {
    const groups = this.o.groups;
    if (!groups || (set.length <= 2 && referencedMessages(m.content).length === 0)) return undefined;
    const ephemeral = m.content.type === "receipt" || m.content.type === "typing";
    const route = await groups.route(m, !ephemeral, account);
    if (route.kind === "dm") return undefined;
    return { roomId: route.kind === "room" ? route.roomId : undefined };
  }

  /** True once a message event is in Matrix (for the latency metric). */
  private async bridge(
    account: PeopleAccount,
    m: IncomingMessage,
    set: ParticipantSet,
    log: Logger,
  ): Promise<boolean> {
    // The registry says what becomes of this type (core/features/): bridged below, answered, or ignored.
    const fate = this.registry.sharedFlowFate("people", m.content.type);
    if (fate.kind === "ignored") {
      this.count("ignored");
      log.debug({ type: m.content.type, why: fate.reason }, "People message not bridged, by design");
      return false;
    }
    if (fate.kind === "notice") {
      if (await answerWithNotice(this.o, account, m, set, fate.text, log)) this.count("answered");
      return false;
    }
    const group = await this.groupRoom(account, m, set);
    const existing = group
      ? undefined
      : await this.o.portals.byPair(account.owner, m.from, portalOwnerOf(account));
    const knownRoom = group ? group.roomId : existing?.roomId;
    const result = peopleToMatrix(m.content, await this.context(m, knownRoom));
    if (result.kind === "receipt" || result.kind === "typing") {
      if (knownRoom) await this.ephemeral(account, m, knownRoom, result, log);
      return false;
    }
    if (result.kind === "unbridgeable") {
      // An empty (whitespace-only) text is told, as it is to a Matrix sender (README, "What is bridged").
      if (
        result.reason === "nothing_to_bridge" &&
        (await answerWithNotice(this.o, account, m, set, EMPTY_TEXT, log))
      )
        return false;
      this.count("unbridgeable");
      this.o.metrics.failed("to_matrix", result.reason);
      log.debug(
        { reason: result.reason, detail: result.detail, type: m.content.type },
        "People message not bridged",
      );
      return false;
    }
    if (group && !group.roomId) return false;
    const roomId =
      knownRoom ??
      (await this.o.portals.ensurePortal(account.owner, m.from, portalOwnerOf(account))).portal.roomId;
    const ghost = this.o.ghosts.ghostId(m.from);
    await this.o.ghosts.ensureGhost(ghost, m.from);
    if (group) await this.o.groups!.ensureJoined(ghost, roomId);
    const eventId = await this.send(ghost, roomId, result, m, account);
    await this.o.hooks?.afterMatrixSend?.(m);
    await this.o.messages.put({
      matrixEventId: eventId,
      peopleMessageId: m.id,
      peopleSender: m.from,
      ...(group ? {} : { owner: portalOwnerOf(account) }),
      roomId,
      createdAt: this.now(),
    });
    this.count("bridged");
    this.o.metrics.bridged("to_matrix", m.content.type);
    log.debug({ room: roomId, group: group !== undefined, type: m.content.type }, "sent to Matrix");
    return true;
  }

  private async send(
    ghost: ReturnType<GhostSide["ghostId"]>,
    room: string,
    result: Exclude<ToMatrix, { kind: "receipt" | "typing" | "unbridgeable" }>,
    m: IncomingMessage,
    account: PeopleAccount,
  ): Promise<MatrixEventId> {
    const txnKey = `people.${m.from}.${m.id}`;
    switch (result.kind) {
      case "event":
        return this.o.ghosts.sendEvent(ghost, room, result.type, { ...result.content }, txnKey);
      case "redaction":
        return this.o.ghosts.redact(ghost, room, result.redacts, result.reason, txnKey);
      case "transfer": {
        const max = this.o.maxMediaBytes ?? DEFAULT_MAX_MEDIA_BYTES;
        const name = result.blob.name ? ` (${result.blob.name})` : "";
        if (result.blob.size > max) {
          const text = `${m.from} sent a file${name} too large for the bridge to bring here.`;
          return this.o.ghosts.sendEvent(ghost, room, "m.room.message", noticeContent(notice(text)), txnKey);
        }
        let media: MatrixMediaSource;
        try {
          const bytes = await account.downloadAttachment(result.blob);
          // Encrypted rooms get encrypted uploads and their `file` objects (when the adapter can).
          media = await uploadAsGhost(this.o.ghosts, ghost, room, bytes, result.blob.mime, result.blob.name);
        } catch (err) {
          const failure = classifyAttachmentFailure(err);
          if (failure.kind === "transient") throw err;
          return this.unfetchable(ghost, room, m, failure.why, result.blob.name, txnKey, err);
        }
        const thumbnail = result.thumbnail && (await this.thumbnail(result.thumbnail, ghost, room, account));
        const event = attachmentToMatrix(
          m.content as AttachmentContent,
          { media, ...(thumbnail && { thumbnail }) },
          await this.context(m, room),
        );
        if (event.kind !== "event") {
          const text = `${m.from} sent a file${name} the bridge cannot show.`;
          return this.o.ghosts.sendEvent(ghost, room, "m.room.message", noticeContent(notice(text)), txnKey);
        }
        return this.o.ghosts.sendEvent(ghost, room, event.type, { ...event.content }, txnKey);
      }
    }
  }

  /**
   * An attachment that can never be brought here: its caption as a message (the
   * event the message maps to), then a notice saying why the file is missing.
   */
  private async unfetchable(
    ghost: ReturnType<GhostSide["ghostId"]>,
    room: string,
    m: IncomingMessage,
    why: string,
    name: string | undefined,
    txnKey: string,
    err: unknown,
  ): Promise<MatrixEventId> {
    this.count("unfetchable");
    this.o.metrics.failed("to_matrix", "unfetchable");
    this.o.log.warn(
      { from: m.from, message: m.id, code: isPeopleError(err) ? errorCode(err) : undefined, why },
      "an attachment cannot be brought into Matrix; the room is told",
    );
    const caption = m.content.type === "attachment" ? m.content.caption : undefined;
    const text = noticeContent(notice(unfetchableText(m.from, why, name)));
    if (!caption) return this.o.ghosts.sendEvent(ghost, room, "m.room.message", text, txnKey);
    const captionEvent = await this.o.ghosts.sendEvent(
      ghost,
      room,
      "m.room.message",
      { msgtype: "m.text", body: caption.slice(0, MAX_CAPTION) },
      txnKey,
    );
    await this.o.ghosts.sendEvent(ghost, room, "m.room.message", text, `${txnKey}.notice`);
    return captionEvent;
  }

  /** Past the retry window: the DM portal (when there is one) is told, best effort. */
  private async gaveUpNotice(
    account: PeopleAccount,
    m: IncomingMessage,
    set: ParticipantSet,
    log: Logger,
  ): Promise<void> {
    if (set.length > 2 || m.content.type === "receipt" || m.content.type === "typing") return;
    try {
      const portal = await this.o.portals.byPair(account.owner, m.from, portalOwnerOf(account));
      if (!portal) return;
      const text = noticeContent(notice(gaveUpText(m.from, this.retry.windowMs)));
      const ghost = this.o.ghosts.ghostId(m.from);
      await this.o.ghosts.sendEvent(
        ghost,
        portal.roomId,
        "m.room.message",
        text,
        `people.${m.from}.${m.id}.gaveup`,
      );
    } catch (err) {
      log.warn({ err }, "could not tell the room about a message given up");
    }
  }

  /** The thumbnail's mxc URI; one People cannot give (gone, not matching its hash) is left out. */
  private async thumbnail(
    ref: BlobRef,
    ghost: ReturnType<GhostSide["ghostId"]>,
    room: string,
    account: PeopleAccount,
  ): Promise<MatrixMediaSource | undefined> {
    let bytes: Buffer;
    try {
      bytes = await account.downloadAttachment(ref);
    } catch (err) {
      if (isPeopleError(err) && !isTransient(err)) return undefined;
      throw err;
    }
    return uploadAsGhost(this.o.ghosts, ghost, room, bytes, ref.mime);
  }

  /** A read receipt or typing from the peer, as the ghost's; best effort. */
  private async ephemeral(
    account: PeopleAccount,
    m: IncomingMessage,
    roomId: string,
    result: Extract<ToMatrix, { kind: "receipt" | "typing" }>,
    log: Logger,
  ): Promise<void> {
    const ghost = this.o.ghosts.ghostId(m.from);
    try {
      if (result.kind === "receipt") {
        const latest = result.eventIds.at(-1);
        if (latest) await this.o.ghosts.sendReadReceipt(ghost, roomId, latest);
      } else {
        await this.o.ghosts.sendTyping(ghost, roomId, result.active, result.timeoutMs);
      }
      this.o.metrics.bridged("to_matrix", m.content.type);
    } catch (err) {
      log.debug({ err, kind: result.kind, user: account.owner }, "a receipt or typing did not reach Matrix");
    }
  }

  /** The Matrix ids of the messages this one points at (to-matrix-context.ts). */
  private context(m: IncomingMessage, roomId: string | undefined): Promise<PeopleToMatrixContext> {
    return toMatrixContext(this.o, m, roomId);
  }

  private count(outcome: string): void {
    this.o.metrics.portalMessages.inc({ direction: "to_matrix", outcome });
  }
}
