// The bridge core's view of Matrix: typed room events in, a few bot actions
// out. Only the adapter (appservice/) knows matrix-appservice-bridge; the core
// (bot, commands) depends on these types alone, so it is testable without a
// homeserver.
import type { Notice } from "./notice.js";

export interface RoomEvent {
  type: string;
  roomId: string;
  sender: string;
  eventId: string;
  /** Present on state events ("" for room-wide state). */
  stateKey?: string;
  content: Record<string, unknown>;
}

/** The event, if it has the shape of a room event; anything else is ignored by the core. */
export function parseRoomEvent(raw: unknown): RoomEvent | undefined {
  if (!raw || typeof raw !== "object") return undefined;
  const e = raw as Record<string, unknown>;
  const { type, room_id: roomId, sender, event_id: eventId, state_key: stateKey, content } = e;
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
  };
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
