// Matrix → People in a portal: what the portal's user writes (text, HTML,
// replies, edits, reactions, redactions) is converted by the pure model and
// sent from the user's People account to the portal's address (in a group
// room: one message to all the other participants, PortalView). The mapping
// (event id ↔ message id) is recorded once the message is durably in the
// People outbox, and the appservice transaction is acknowledged only after
// that. What cannot be bridged is answered in the room, never dropped
// silently: an m.notice from the ghost, in reply to the event.
//
// Failures (to-people-failures.ts): a refusal that will not change (media gone
// or refused, no such address, keys that cannot be trusted) is told at once;
// anything else (the media's server, the People network, the database) throws
// RetryLater, and the appservice keeps the event in the bridge's retry queue
// and tries it again alone, for a bounded time (RetryWindow), after which the
// user is told.
//
// A crash between the People send and the mapping write sends the message
// again when the homeserver redelivers the transaction, under the same People
// id (derived from the event id), which recipients keep once. Within a
// transaction (deferWrite) the flow goes on to the next event once the message
// is committed to the outbox; its fsync and the mapping written after it are
// left to the transaction, which is recorded and acknowledged only after them.
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { MessageId } from "../../people/protocol/ids.js";
import type { MessageContent } from "../../people/protocol/messages.js";
import { REFUSAL } from "../core/bot.js";
import type { Logger } from "../core/ports/logger.js";
import { type EphemeralEvent, type GhostSide, type RoomEvent } from "../core/ports/matrix-side.js";
import type { BridgeMetrics } from "../core/ports/metrics.js";
import { isMatrixEventId, type MatrixUserId } from "../model/matrix-ids.js";
import { POLL_END_TYPES, pollReference } from "../model/polls.js";
import { pollHistory } from "./poll-reader.js";
import { MAX_THUMBNAIL_BYTES } from "../model/thumbnails.js";
import {
  attachmentToPeople,
  matrixEventToPeople,
  matrixReceiptToPeople,
  matrixTypingToPeople,
  type AttachmentPlaceholder,
  type MatrixToPeopleContext,
  type ToPeople,
} from "../model/matrix-to-people.js";
import { unbridgeableText } from "../model/unbridgeable.js";
import { notice, noticeReplyContent } from "../core/notice.js";
import { portalOwnerOf, type PeopleAccount, type PeopleSide } from "../core/ports/people-side.js";
import { isDoublePuppeted } from "../core/ports/puppet-side.js";
import type { Permissions } from "../core/permissions.js";
import type { MessageMapping, MessageMapStore, Portal } from "../core/ports/store.js";
import { PendingMappings } from "./pending-mappings.js";
import { ownTargetsOnly, quiet, referencedEvents } from "./event-references.js";
import { viewOf, type PortalView } from "./portal-view.js";
export type { PortalView } from "./portal-view.js";
import { RetryWindow } from "./retry-window.js";
import { bridgeRegistry } from "../core/features/index.js";
import type { FeatureRegistry } from "../core/router.js";
import { classifyToPeopleFailure, mediaFailure, mediaTooLargeText } from "./to-people-failures.js";
import { isBridgeError, userError, retryLater, isRetryLater } from "../core/error-kinds.js";
import type { MessageStatusReason } from "../model/send-status.js";
import { failureReason, statusTarget, type SendStatusHooks } from "./send-status.js";

/** The pending status of an event the flow keeps to try again. */
export const RETRYING_TEXT = "The People network cannot be reached now; the bridge keeps trying.";

export const ENCRYPTED_MEDIA_TEXT = "Encrypted files cannot be bridged to People yet.";
export const DEFAULT_MAX_MEDIA_BYTES = 100 * 1024 * 1024;
/** Receipts and typing are worth little once late: they expire from the outbox soon. */
export const EPHEMERAL_TTL_MS = 5 * 60_000;

export interface MatrixToPeopleOptions {
  ghosts: GhostSide;
  people: PeopleSide;
  messages: MessageMapStore;
  permissions: Permissions;
  log: Logger;
  metrics: BridgeMetrics;
  retry?: RetryWindow;
  now?: () => number;
  /** The largest media sent to People (default 100 MB). */
  maxMediaBytes?: number;
  /** Which types are bridged, answered or ignored (default: the bridge's features). */
  registry?: FeatureRegistry;
  /** Told what becomes of each event (send status, send-status.ts). */
  status?: SendStatusHooks;
  /** How long a message waits in the outbox for its recipients' servers (bridge.delivery_timeout). */
  deliveryTimeoutMs?: number;
  /**
   * Leaves a pending durable write to the running homeserver transaction (TransactionWrites.defer);
   * false when there is none, and the flow then waits for it itself.
   */
  deferWrite?: (write: Promise<void>) => boolean;
}

export class MatrixToPeopleFlow {
  private readonly retry: RetryWindow;
  private readonly now: () => number;
  private readonly maxMedia: number;
  private readonly registry: FeatureRegistry;
  /** Portal rooms whose user was last reported typing to People. */
  private readonly typing = new Set<string>();
  private readonly pending = new PendingMappings();

  constructor(private readonly o: MatrixToPeopleOptions) {
    this.retry = o.retry ?? new RetryWindow();
    this.now = o.now ?? Date.now;
    this.maxMedia = o.maxMediaBytes ?? DEFAULT_MAX_MEDIA_BYTES;
    this.registry = o.registry ?? bridgeRegistry();
  }

  /**
   * m.receipt and m.typing in a portal: the user's read receipts on the peer's bridged
   * messages, and the user's typing state when it changed. Best effort: failures are
   * logged and dropped, never retried.
   */
  async handleEphemeral(event: EphemeralEvent, target: Portal | PortalView): Promise<void> {
    const portal = viewOf(target);
    if (this.o.permissions.levelOf(portal.matrixUser) === "none") return;
    const user = portal.matrixUser as MatrixUserId;
    try {
      let result: ToPeople;
      if (event.type === "m.receipt") {
        const rows = await this.o.messages.eventsInRoom(portal.roomId, Object.keys(event.content));
        const map = new Map(
          rows
            .filter((r) => portal.to.includes(r.peopleSender as PeopleAddress))
            .map((r) => [r.matrixEventId, r.peopleMessageId as MessageId]),
        );
        result = matrixReceiptToPeople(event.content, user, { peopleIdOf: (id) => map.get(id) });
      } else if (event.type === "m.typing") {
        result = matrixTypingToPeople(event.content, user);
        if (result.kind === "content" && result.content.type === "typing") {
          const active = result.content.active;
          const key = `${portal.roomId}\n${user}`;
          if (this.typing.has(key) === active) return;
          if (active) this.typing.add(key);
          else this.typing.delete(key);
        }
      } else return;
      if (result.kind !== "content") return;
      const account = await this.speaker(portal);
      await account.send(portal.to, result.content, { ttlMs: EPHEMERAL_TTL_MS });
      this.o.metrics.bridged("to_people", result.content.type);
      this.o.log.debug({ room: portal.roomId, type: result.content.type }, "sent to People");
    } catch (err) {
      this.o.log.debug({ err, room: portal.roomId, type: event.type }, "a receipt or typing not bridged");
    }
  }

  async handle(event: RoomEvent, target: Portal | PortalView): Promise<void> {
    const portal = viewOf(target);
    // Only the portal's user speaks for their People account (the ghost's own events never arrive).
    if (event.sender !== portal.matrixUser) return;
    // What the bridge itself sent as the user (double puppeting) came from People.
    if (isDoublePuppeted(event.content)) return;
    // The registry says what becomes of this type (core/features/): bridged below, answered, or ignored.
    const fate = this.registry.roomEventFate(event.type, event.content);
    if (fate.kind === "ignored") {
      this.o.log.debug(
        { room: portal.roomId, type: event.type, why: fate.reason },
        "Matrix event not bridged",
      );
      return;
    }
    if (fate.kind === "notice") {
      this.o.metrics.failed(
        "to_people",
        event.type === "m.room.encrypted" ? "encrypted" : "unsupported_type",
      );
      await this.notice(event, portal, `Not delivered to ${portal.label}: ${fate.text}`);
      return this.failStatus(event, portal, "com.beeper.unsupported_event", fate.text);
    }
    if (this.pending.has(event.eventId) || (await this.o.messages.byEvent(event.eventId))) {
      this.count("duplicate");
      return;
    }
    if (this.o.permissions.levelOf(event.sender) === "none") {
      await this.notice(event, portal, REFUSAL);
      return this.failStatus(event, portal, "m.no_permission", REFUSAL);
    }
    try {
      await this.bridge(event, portal);
      this.retry.succeeded(event.eventId);
    } catch (err) {
      const failure = classifyToPeopleFailure(err);
      if (failure.kind === "permanent")
        return this.undeliverable(event, portal, failure.reason, failure.userText, err);
      // Tried again alone (the bridge's retry queue), until the window is over.
      if (this.retry.failed(event.eventId)) {
        this.o.metrics.failed("to_people", "retry");
        await this.o.status?.retrying(statusTarget(event.eventId, portal), RETRYING_TEXT);
        if (isRetryLater(err)) throw err;
        throw retryLater("sending a Matrix event to People failed", { cause: err });
      }
      this.o.log.error({ err, room: portal.roomId, eventId: event.eventId }, "gave up on a Matrix event");
      return this.undeliverable(event, portal, "gave_up", failure.giveUpText, err);
    }
  }

  /** The account that speaks in the portal: its own address's, else the user's default one. */
  private speaker(portal: PortalView): Promise<PeopleAccount> {
    const people = this.o.people;
    return portal.owner && people.accountAt
      ? people.accountAt(portal.matrixUser, portal.owner)
      : people.accountFor(portal.matrixUser);
  }

  private async bridge(event: RoomEvent, portal: PortalView): Promise<void> {
    const account = await this.speaker(portal);
    const ctx = await this.context(event, portal, account.address);
    const { type, content: eventContent, redacts, originServerTs } = event;
    const result = matrixEventToPeople({ type, content: eventContent, redacts, originServerTs }, ctx);
    if (result.kind === "unbridgeable") {
      this.o.log.debug(
        { room: portal.roomId, eventId: event.eventId, reason: result.reason, detail: result.detail },
        "Matrix event not bridged",
      );
      if (quiet(event, result)) return;
      return this.undeliverable(event, portal, result.reason, unbridgeableText(result));
    }
    let content: MessageContent;
    if (result.kind === "attachment") {
      const converted = await this.uploadMedia(result, account);
      if (converted.kind === "unbridgeable")
        return this.undeliverable(event, portal, converted.reason, unbridgeableText(converted));
      content = converted.content;
    } else content = result.content;
    const to = portal.to;
    // The id follows from the event, so a resend after a crash is the same People message.
    const options = {
      sourceId: event.eventId,
      ...(this.o.deliveryTimeoutMs !== undefined ? { ttlMs: this.o.deliveryTimeoutMs } : {}),
    };
    const { messageId, durable } = account.queue
      ? await account.queue(to, content, options)
      : { messageId: await account.send(to, content, options), durable: Promise.resolve() };
    // Before anything is awaited: the outbox's POST starts at the commit and may be answered before
    // the fsync and the mapping, and an answer for a message not yet registered would go uncounted.
    this.o.metrics.sentToPeople(messageId, event.originServerTs);
    const mapping = {
      matrixEventId: event.eventId,
      peopleMessageId: messageId,
      peopleSender: account.address,
      // A DM portal's copy is its owner's own; a group room's is shared.
      ...(portal.owner ? { owner: portalOwnerOf(account) } : {}),
      roomId: portal.roomId,
      createdAt: this.now(),
    };
    const written = this.pending.hold(
      mapping,
      durable.then(() => this.recorded(event, portal, account, content, mapping)),
    );
    if (!this.o.deferWrite?.(written)) await written;
  }

  /** Once the message is durably in the outbox: its mapping, status and counts. */
  private async recorded(
    event: RoomEvent,
    portal: PortalView,
    account: PeopleAccount,
    content: MessageContent,
    mapping: MessageMapping,
  ): Promise<void> {
    const { peopleMessageId: messageId } = mapping;
    const to = portal.to;
    await this.o.messages.put(mapping);
    this.o.status?.sent({
      ...statusTarget(event.eventId, portal),
      sender: account.address,
      messageId,
      to,
      label: portal.label,
    });
    this.count("bridged");
    this.o.metrics.bridged("to_people", content.type);
    this.o.log.debug({ room: portal.roomId, eventId: event.eventId, type: content.type }, "sent to People");
  }

  /** The media's bytes from the homeserver, encrypted and uploaded to the user's People server. */
  private async uploadMedia(media: AttachmentPlaceholder, account: PeopleAccount) {
    const encrypted = media.encrypted;
    const decrypting = this.o.ghosts.downloadEncryptedMedia?.bind(this.o.ghosts);
    if (encrypted && !decrypting) throw userError(ENCRYPTED_MEDIA_TEXT);
    if (media.size !== undefined && media.size > this.maxMedia)
      throw userError(mediaTooLargeText(this.maxMedia));
    let bytes: Buffer;
    try {
      bytes =
        encrypted && decrypting
          ? await decrypting(encrypted, this.maxMedia)
          : await this.o.ghosts.downloadMedia(media.mxc, this.maxMedia);
    } catch (err) {
      throw mediaFailure(err, this.maxMedia);
    }
    const blob = await account.uploadAttachment(bytes, {
      mime: media.mime,
      ...(media.name !== undefined && { name: media.name }),
    });
    return attachmentToPeople(media, blob, await this.uploadThumbnail(media.thumbnail, account));
  }

  /** The thumbnail to People too; one the homeserver cannot give (gone, too large, encrypted) is left out. */
  private async uploadThumbnail(thumb: AttachmentPlaceholder["thumbnail"], account: PeopleAccount) {
    if (!thumb || thumb.encrypted) return undefined;
    let bytes: Buffer;
    try {
      bytes = await this.o.ghosts.downloadMedia(thumb.mxc, MAX_THUMBNAIL_BYTES);
    } catch (err) {
      if (
        isBridgeError(err, "media_too_large") ||
        isBridgeError(err, "media_not_found") ||
        isBridgeError(err, "media_refused")
      )
        return undefined;
      throw err;
    }
    return account.uploadAttachment(bytes, { mime: thumb.mime });
  }

  /** The People ids of the events this one points at, as the converter's synchronous lookup. */
  private async context(event: RoomEvent, portal: PortalView, self: string): Promise<MatrixToPeopleContext> {
    const ids = referencedEvents(event);
    const rows =
      ids.length === 0
        ? []
        : [
            ...this.pending.inRoom(portal.roomId, ids),
            ...(await this.o.messages.eventsInRoom(portal.roomId, ids)),
          ];
    const own = ownTargetsOnly(event);
    const map = new Map(
      rows
        .filter((r) => !own || r.peopleSender === self)
        .map((r) => [r.matrixEventId, r.peopleMessageId as MessageId]),
    );
    // A poll's end carries its results: the poll and its votes, read from the homeserver.
    const pollId = POLL_END_TYPES.some((t) => t === event.type) ? pollReference(event.content) : undefined;
    const ghost = this.o.ghosts.ghostId(portal.noticeGhost);
    const poll =
      pollId && isMatrixEventId(pollId) && map.has(pollId)
        ? await pollHistory(this.o.ghosts, ghost, portal.roomId, pollId)
        : undefined;
    return { peopleIdOf: (id) => map.get(id), pollOf: (id) => (id === pollId ? poll : undefined) };
  }

  private async undeliverable(
    event: RoomEvent,
    portal: PortalView,
    reason: string,
    why: string,
    err?: unknown,
  ): Promise<void> {
    this.count("undeliverable");
    this.o.metrics.failed("to_people", reason);
    if (err !== undefined) {
      this.o.log.info(
        {
          room: portal.roomId,
          eventId: event.eventId,
          detail: err instanceof Error ? err.message : String(err),
        },
        "a Matrix event could not be delivered to People",
      );
    }
    await this.notice(event, portal, `Not delivered to ${portal.label}: ${why}`);
    await this.failStatus(event, portal, failureReason(reason), why, reason === "gave_up");
  }

  /** The failure's send status (the notice is sent by the caller). */
  private async failStatus(
    event: RoomEvent,
    portal: PortalView,
    reason: MessageStatusReason,
    why: string,
    retriable = false,
  ): Promise<void> {
    await this.o.status?.failed(statusTarget(event.eventId, portal), {
      status: retriable ? "FAIL_RETRIABLE" : "FAIL_PERMANENT",
      reason,
      message: `Not delivered to ${portal.label}: ${why}`,
    });
  }

  /** An m.notice from the portal's ghost, in reply to `event`; sent once however often the event arrives. */
  private async notice(event: RoomEvent, portal: PortalView, text: string): Promise<void> {
    const ghost = this.o.ghosts.ghostId(portal.noticeGhost);
    const content = noticeReplyContent(notice(text), event.eventId);
    await this.o.ghosts.sendEvent(ghost, portal.roomId, "m.room.message", content, `notice.${event.eventId}`);
  }

  private count(outcome: string): void {
    this.o.metrics.portalMessages.inc({ direction: "to_people", outcome });
  }
}
