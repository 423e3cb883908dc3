// The bridge core's view of Matrix: typed room events in, a few bot actions
// out. Only the adapter (appservice/) knows matrix-appservice-bridge; the core
// (bot, commands) depends on these types alone, so it is testable without a
// homeserver.
import type { PeopleAddress } from "../../../people/protocol/address.js";
import type { EncryptedFile } from "../../model/matrix-content.js";
import type { MatrixEventId, MatrixUserId } from "../../model/matrix-ids.js";
import type { RawRoomEvent } from "../../model/polls.js";
import type { Notice } from "../notice.js";
import { BridgeError } from "../error-kinds.js";

export interface RoomEvent {
  type: string;
  roomId: string;
  sender: string;
  eventId: string;
  /** Present on state events ("" for room-wide state). */
  stateKey?: string;
  content: Record<string, unknown>;
  /** Top-level `redacts` of m.room.redaction (room versions before 11 keep it outside the content). */
  redacts?: string;
  /** The homeserver's timestamp of the event (ms), for latency metrics only. */
  originServerTs?: number;
}

/** The event, if it has the shape of a room event; anything else is ignored by the core. */
export function parseRoomEvent(raw: unknown): RoomEvent | undefined {
  if (!raw || typeof raw !== "object") return undefined;
  const e = raw as Record<string, unknown>;
  const { type, room_id: roomId, sender, event_id: eventId, state_key: stateKey, content, redacts } = e;
  const ts = e.origin_server_ts;
  if (typeof type !== "string" || typeof roomId !== "string" || typeof sender !== "string") return undefined;
  if (typeof eventId !== "string") return undefined;
  if (!content || typeof content !== "object" || Array.isArray(content)) return undefined;
  return {
    type,
    roomId,
    sender,
    eventId,
    ...(typeof stateKey === "string" ? { stateKey } : {}),
    content: content as Record<string, unknown>,
    ...(typeof redacts === "string" ? { redacts } : {}),
    ...(typeof ts === "number" && Number.isSafeInteger(ts) && ts > 0 ? { originServerTs: ts } : {}),
  };
}

export interface StateEvent {
  sender?: string;
  content: Record<string, unknown>;
}

export interface SendOptions {
  /**
   * A stable key for this send (e.g. derived from the event being answered): the
   * homeserver deduplicates sends with the same key, so a redelivered event
   * does not produce a second message.
   */
  txnKey: string;
  /** Event the notice answers (a rich reply). */
  inReplyTo?: string;
}

export interface MatrixSide {
  readonly botUserId: string;
  joinRoom(roomId: string): Promise<void>;
  /** Leaves (or declines an invite to) a room as the bot. */
  leaveRoom(roomId: string, reason?: string): Promise<void>;
  sendNotice(roomId: string, notice: Notice, o: SendOptions): Promise<void>;
}

/**
 * The ghosts: the Matrix users that stand for People addresses
 * (`@_people_joe=40example.com:hs`), acting in rooms. What the portals need
 * from Matrix; the adapter implements it with matrix-appservice-bridge intents.
 */
export interface GhostSide {
  ghostId(address: PeopleAddress): MatrixUserId;
  /** The address a ghost stands for, or null for any other user id. */
  addressOf(userId: string): PeopleAddress | null;
  /** Registers the ghost on first use and sets its display name when it differs. */
  ensureGhost(ghost: MatrixUserId, displayName: string): Promise<void>;
  /** A new private room made by the ghost, with `invitee` invited to it as a direct chat. */
  createDirectRoom(ghost: MatrixUserId, invitee: string): Promise<string>;
  /**
   * A new private room (not a direct chat) made by the ghost for a group
   * conversation, named, with `invite` invited and `admins` given power level 100.
   */
  createGroupRoom(
    ghost: MatrixUserId,
    o: { name: string; topic?: string; invite: readonly string[]; admins: readonly string[] },
  ): Promise<string>;
  /** The ghost invites `userId`; an invitee already in the room is no error. */
  invite(ghost: MatrixUserId, roomId: string, userId: string): Promise<void>;
  join(ghost: MatrixUserId, roomId: string): Promise<void>;
  /** A state event of a room the ghost is in (its sender when the homeserver gives it); undefined when there is none. */
  roomState(
    ghost: MatrixUserId,
    roomId: string,
    type: string,
    stateKey: string,
  ): Promise<StateEvent | undefined>;
  /** Sets a state event (a room's name or topic) as the ghost (a `matrix_http` BridgeError, 403, without the power). */
  setRoomState(
    ghost: MatrixUserId,
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ): Promise<void>;
  /** The user ids joined to a room the ghost is in. */
  joinedMembers(ghost: MatrixUserId, roomId: string): Promise<string[]>;
  /** The ghost removes `userId` from the room (refused by the homeserver without the power to). */
  kick(ghost: MatrixUserId, roomId: string, userId: string, reason: string): Promise<void>;
  /** Leaves, or declines an invite, with an optional reason shown to the room. */
  leave(ghost: MatrixUserId, roomId: string, reason?: string): Promise<void>;
  /**
   * Sends an event as the ghost. The transaction id is derived from `txnKey`,
   * so the homeserver answers a repeated send with the event it already made.
   */
  sendEvent(
    ghost: MatrixUserId,
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    txnKey: string,
    /** `ts`: the event's origin time (appservice timestamp massaging), for history brought in later. */
    o?: { ts?: number },
  ): Promise<MatrixEventId>;
  redact(
    ghost: MatrixUserId,
    roomId: string,
    eventId: MatrixEventId,
    reason: string | undefined,
    txnKey: string,
  ): Promise<MatrixEventId>;
  /**
   * The bytes of an mxc URI from the homeserver's (authenticated) media repository.
   * Throws a BridgeError: media_too_large past `maxBytes`, media_not_found when the homeserver has
   * no such media, media_refused for another refusal, media_unavailable for a failure that may pass
   * (mediaErrorOf).
   */
  downloadMedia(mxc: string, maxBytes: number): Promise<Buffer>;
  /**
   * Optional (end-to-bridge encryption): the plaintext of an encrypted
   * attachment, downloaded like downloadMedia and checked against its hash.
   */
  downloadEncryptedMedia?(file: EncryptedFile, maxBytes: number): Promise<Buffer>;
  /**
   * Optional: uploads media for a room, encrypted (a `file` object) when the
   * room is, plain (a `url`) otherwise.
   */
  uploadRoomMedia?(
    ghost: MatrixUserId,
    roomId: string,
    bytes: Buffer,
    mime: string,
    name?: string,
  ): Promise<{ url: string } | { file: Omit<EncryptedFile, "url"> & { url: string } }>;
  /** Optional: sets the room's avatar (m.room.avatar) as the ghost, which must be allowed to. */
  setRoomAvatar?(ghost: MatrixUserId, roomId: string, mxc: string): Promise<void>;
  /** Uploads bytes to the media repository as the ghost; resolves with the mxc URI. */
  uploadMedia(ghost: MatrixUserId, bytes: Buffer, mime: string, name?: string): Promise<string>;
  /** Optional (polls): a room's event as the ghost reads it; undefined when there is none it may see. */
  roomEvent?(ghost: MatrixUserId, roomId: string, eventId: MatrixEventId): Promise<RawRoomEvent | undefined>;
  /** Optional (polls): the events relating to `eventId` by `m.reference` (a poll's votes), oldest first. */
  references?(ghost: MatrixUserId, roomId: string, eventId: MatrixEventId): Promise<RawRoomEvent[]>;
  /** Best effort: marks `eventId` read for the ghost. */
  sendReadReceipt(ghost: MatrixUserId, roomId: string, eventId: MatrixEventId): Promise<void>;
  /** Best effort: the ghost's typing state in the room. */
  sendTyping(ghost: MatrixUserId, roomId: string, active: boolean, timeoutMs: number): Promise<void>;
}

/** An ephemeral event of a room (m.receipt, m.typing) from the appservice transaction. */
export interface EphemeralEvent {
  type: string;
  roomId: string;
  content: Record<string, unknown>;
}

/** The event, if it has the shape of a room's ephemeral event (presence and others without a room are not). */
export function parseEphemeralEvent(raw: unknown): EphemeralEvent | undefined {
  if (!raw || typeof raw !== "object") return undefined;
  const { type, room_id: roomId, content } = raw as Record<string, unknown>;
  if (typeof type !== "string" || typeof roomId !== "string") return undefined;
  if (!content || typeof content !== "object" || Array.isArray(content)) return undefined;
  return { type, roomId, content: content as Record<string, unknown> };
}

// Why media could not be downloaded, as BridgeError codes. media_too_large, media_not_found
// and media_refused (403, 400…, or bytes that were not what the event said) will not change
// (told to the user at once); media_unavailable may pass (5xx, 429, a timeout, the network),
// so the event is tried again for a while.

/** The error for a failed media download's HTTP status: 404 gone, other 4xx refused, the rest for now. */
export function mediaErrorOf(status: number): Error {
  const detail = `media download failed: HTTP ${status}`;
  if (status === 404 || status === 410) return new BridgeError("media_not_found", detail);
  if (status >= 400 && status < 500 && status !== 408 && status !== 429)
    return new BridgeError("media_refused", detail);
  return new BridgeError("media_unavailable", detail);
}
