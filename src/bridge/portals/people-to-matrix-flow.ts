// People → Matrix in a DM portal: a message that arrived for a Matrix user's
// People account is converted by the pure model and sent into the portal as
// the sender's ghost (the portal made first when there is none). The send
// carries a transaction id derived from the sender and message id, so a
// redelivery the homeserver still remembers returns the same event; the
// mapping recorded afterwards makes any later redelivery a no-op. Only then
// does the handler resolve, and only then does the People client acknowledge
// the envelope to its server (DESIGN §3: mail is acknowledged only after it
// reached the room).
//
// A failure is thrown, so the message comes again, for a bounded time
// (RetryWindow): one message that can never reach Matrix must not hold up
// every later one. Past the window it is logged as given up (it stays in the
// account's local inbox).
//
// Attachments: the bytes are fetched from People (decrypted, hash checked),
// uploaded to the media repository as the ghost, and sent as an m.image,
// m.file, m.audio or m.video. Read receipts and typing are best effort: only
// into an existing portal, failures logged and dropped, never retried.
//
// Not bridged yet, and said so in the log: messages from the account's own
// other devices, conversations with several addresses.
import type { MessageId } from "../../people/protocol/ids.js";
import type { MessageContent } from "../../people/protocol/messages.js";
import type { Logger } from "../logger.js";
import type { GhostSide } from "../matrix-side.js";
import type { BridgeMetrics } from "../metrics.js";
import { isMxcUri, type MatrixEventId } from "../model/matrix-ids.js";
import type { MatrixMediaSource } from "../model/matrix-content.js";
import {
  attachmentToMatrix,
  peopleToMatrix,
  type AttachmentContent,
  type PeopleToMatrixContext,
  type ToMatrix,
} from "../model/people-to-matrix.js";
import { notice, noticeContent } from "../notice.js";
import type { IncomingMessage, PeopleAccount } from "../people-side.js";
import type { MessageMapStore, Portal } from "../store/types.js";
import type { PortalService } from "./portal-service.js";
import { RetryWindow } from "./retry-window.js";

export interface PeopleToMatrixHooks {
  /** Test hook: runs after the Matrix send, before the mapping is recorded (a throw simulates a crash there). */
  afterMatrixSend?(message: IncomingMessage): Promise<void> | void;
}

export interface PeopleToMatrixOptions {
  ghosts: GhostSide;
  portals: PortalService;
  messages: MessageMapStore;
  log: Logger;
  metrics: BridgeMetrics;
  retry?: RetryWindow;
  hooks?: PeopleToMatrixHooks;
  now?: () => number;
  /** The largest attachment brought into Matrix (default 100 MB). */
  maxMediaBytes?: number;
}

const DEFAULT_MAX_MEDIA_BYTES = 100 * 1024 * 1024;

/** Message ids the content points at. */
function referencedMessages(content: MessageContent): string[] {
  const c = content as { reply_to?: unknown; target?: unknown; targets?: unknown };
  const ids = [c.reply_to, c.target, ...(Array.isArray(c.targets) ? c.targets : [])];
  return ids.filter((id): id is string => typeof id === "string");
}

export class PeopleToMatrixFlow {
  private readonly retry: RetryWindow;
  private readonly now: () => number;

  constructor(private readonly o: PeopleToMatrixOptions) {
    this.retry = o.retry ?? new RetryWindow();
    this.now = o.now ?? Date.now;
  }

  /** The accounts' message handler: resolves once the message is in Matrix (or will never be). */
  readonly handle = async (account: PeopleAccount, m: IncomingMessage): Promise<void> => {
    const log = this.o.log.child({ user: account.owner, from: m.from, message: m.id });
    if (m.from === account.address) {
      log.debug("a message from another device of the account itself: not bridged yet");
      return;
    }
    if (m.to.some((a) => a !== account.address && a !== m.from)) {
      this.count("not_bridged");
      log.info({ recipients: m.to.length }, "a conversation with several addresses: not bridged yet");
      return;
    }
    if (await this.o.messages.byMessage(m.from, m.id)) {
      this.count("duplicate");
      return;
    }
    const key = `${m.from}\n${m.id}`;
    try {
      await this.bridge(account, m, log);
      this.retry.succeeded(key);
    } catch (err) {
      if (this.retry.failed(key)) {
        log.warn({ err }, "a People message did not reach Matrix; it comes again");
        throw err;
      }
      this.count("failed");
      log.error({ err }, "gave up on a People message: it did not reach Matrix in time");
    }
  };

  private async bridge(account: PeopleAccount, m: IncomingMessage, log: Logger): Promise<void> {
    const existing = await this.o.portals.byPair(account.owner, m.from);
    const result = peopleToMatrix(m.content, await this.context(m, existing));
    if (result.kind === "receipt" || result.kind === "typing") {
      if (existing) await this.ephemeral(account, m, existing, result, log);
      return;
    }
    if (result.kind === "unbridgeable") {
      this.count("unbridgeable");
      log.debug(
        { reason: result.reason, detail: result.detail, type: m.content.type },
        "People message not bridged",
      );
      return;
    }
    const portal = existing ?? (await this.o.portals.ensurePortal(account.owner, m.from)).portal;
    const ghost = this.o.ghosts.ghostId(m.from);
    await this.o.ghosts.ensureGhost(ghost, m.from);
    const eventId = await this.send(ghost, portal, result, m, account);
    await this.o.hooks?.afterMatrixSend?.(m);
    await this.o.messages.put({
      matrixEventId: eventId,
      peopleMessageId: m.id,
      peopleSender: m.from,
      roomId: portal.roomId,
      createdAt: this.now(),
    });
    this.count("bridged");
    log.debug({ room: portal.roomId, type: m.content.type }, "sent to Matrix");
  }

  private async send(
    ghost: ReturnType<GhostSide["ghostId"]>,
    portal: Portal,
    result: Exclude<ToMatrix, { kind: "receipt" | "typing" | "unbridgeable" }>,
    m: IncomingMessage,
    account: PeopleAccount,
  ): Promise<MatrixEventId> {
    const txnKey = `people.${m.from}.${m.id}`;
    const room = portal.roomId;
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
        const bytes = await account.downloadAttachment(result.blob);
        // Encrypted rooms get an encrypted upload and its `file` object (when the adapter can).
        const media = this.o.ghosts.uploadRoomMedia
          ? await this.o.ghosts.uploadRoomMedia(ghost, room, bytes, result.blob.mime, result.blob.name)
          : { url: await this.o.ghosts.uploadMedia(ghost, bytes, result.blob.mime, result.blob.name) };
        const mxc = "url" in media ? media.url : media.file.url;
        if (!isMxcUri(mxc)) throw new Error("the homeserver answered the upload without an mxc URI");
        const event = attachmentToMatrix(
          m.content as AttachmentContent,
          { media: media as MatrixMediaSource },
          await this.context(m, portal),
        );
        if (event.kind !== "event") {
          const text = `${m.from} sent a file${name} the bridge cannot show.`;
          return this.o.ghosts.sendEvent(ghost, room, "m.room.message", noticeContent(notice(text)), txnKey);
        }
        return this.o.ghosts.sendEvent(ghost, room, event.type, { ...event.content }, txnKey);
      }
    }
  }

  /** A read receipt or typing from the peer, as the ghost's; best effort. */
  private async ephemeral(
    account: PeopleAccount,
    m: IncomingMessage,
    portal: Portal,
    result: Extract<ToMatrix, { kind: "receipt" | "typing" }>,
    log: Logger,
  ): Promise<void> {
    const ghost = this.o.ghosts.ghostId(m.from);
    try {
      if (result.kind === "receipt") {
        const latest = result.eventIds.at(-1);
        if (latest) await this.o.ghosts.sendReadReceipt(ghost, portal.roomId, latest);
      } else {
        await this.o.ghosts.sendTyping(ghost, portal.roomId, result.active, result.timeoutMs);
      }
    } catch (err) {
      log.debug({ err, kind: result.kind, user: account.owner }, "a receipt or typing did not reach Matrix");
    }
  }

  /** The Matrix ids of the messages this one points at; edits and redactions only the sender's own. */
  private async context(m: IncomingMessage, portal: Portal | undefined): Promise<PeopleToMatrixContext> {
    const ids = referencedMessages(m.content);
    if (!portal || ids.length === 0) return { matrixIdOf: () => undefined };
    const own = m.content.type === "edit" || m.content.type === "redaction";
    const rows = await this.o.messages.messagesInRoom(portal.roomId, ids);
    const map = new Map<MessageId, MatrixEventId>(
      rows
        .filter((r) => !own || r.peopleSender === m.from)
        .map((r) => [r.peopleMessageId as MessageId, r.matrixEventId as MatrixEventId]),
    );
    return { matrixIdOf: (id) => map.get(id) };
  }

  private count(outcome: string): void {
    this.o.metrics.portalMessages.inc({ direction: "to_matrix", outcome });
  }
}
