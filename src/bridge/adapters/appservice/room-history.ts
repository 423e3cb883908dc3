// Reading a room's history through the client-server API, as one of the
// appservice's users (?user_id=, the appservice token): what catch-up needs
// to find events the homeserver never delivered in a transaction. Answers are
// validated here into typed pages; anything else is an error.
import { parseRoomEvent, type RoomEvent } from "../../core/ports/matrix-side.js";
import { AppserviceHttp } from "./appservice-http.js";
import { BridgeError, isBridgeError } from "../../core/error-kinds.js";

/** A room event as read from history, with the homeserver's timestamp. */
export interface HistoryEvent extends RoomEvent {
  originServerTs: number;
}

export interface HistoryPage {
  events: HistoryEvent[];
  /** Token to read on from; absent once there is nothing more in that direction. */
  end?: string;
}

export interface RoomHistory {
  /**
   * A token just after `eventId` (forward reading starts there), or undefined
   * when the homeserver does not show that event to `asUser` (purged, or not a member).
   */
  tokenAfter(roomId: string, eventId: string, asUser: string): Promise<string | undefined>;
  /** One page of events: forward from `from`, or backward from `from` (or the newest event). */
  page(
    roomId: string,
    o: { asUser: string; dir: "f" | "b"; from?: string; limit: number },
  ): Promise<HistoryPage>;
}

/** The history could not be read: a `history` BridgeError, with the homeserver's status when it answered. */
export function historyError(message: string, status?: number): BridgeError {
  return new BridgeError("history", message, status === undefined ? {} : { status });
}

type Json = Record<string, unknown>;

function historyEvent(raw: unknown): HistoryEvent | undefined {
  const event = parseRoomEvent(raw);
  const ts = (raw as Json).origin_server_ts;
  if (!event || typeof ts !== "number" || !Number.isSafeInteger(ts)) return undefined;
  return { ...event, originServerTs: ts };
}

export class HttpRoomHistory implements RoomHistory {
  private readonly http: AppserviceHttp;

  constructor(o: { homeserverUrl: string; asToken: string }) {
    this.http = new AppserviceHttp(o.homeserverUrl, o.asToken);
  }

  async tokenAfter(roomId: string, eventId: string, asUser: string): Promise<string | undefined> {
    const path = `/rooms/${encodeURIComponent(roomId)}/context/${encodeURIComponent(eventId)}`;
    const body = await this.get(path, asUser, { limit: "0" }, [403, 404]);
    if (!body) return undefined;
    if (typeof body.end !== "string") throw historyError("the homeserver answered /context without a token");
    return body.end;
  }

  async page(
    roomId: string,
    o: { asUser: string; dir: "f" | "b"; from?: string; limit: number },
  ): Promise<HistoryPage> {
    const query: Record<string, string> = { dir: o.dir, limit: String(o.limit) };
    if (o.from !== undefined) query.from = o.from;
    const body = await this.get(`/rooms/${encodeURIComponent(roomId)}/messages`, o.asUser, query, []);
    if (!body || !Array.isArray(body.chunk))
      throw historyError("the homeserver answered /messages without a chunk");
    const events: HistoryEvent[] = [];
    for (const raw of body.chunk as unknown[]) {
      if (!raw || typeof raw !== "object") continue;
      // The room asked for, whatever the event says (the client format may leave room_id out).
      const event = historyEvent({ ...(raw as Json), room_id: roomId });
      if (event) events.push(event);
    }
    return { events, ...(typeof body.end === "string" ? { end: body.end } : {}) };
  }

  /** GET under /_matrix/client/v3 as `asUser`; the listed statuses are answered with undefined. */
  private async get(
    path: string,
    asUser: string,
    query: Record<string, string>,
    absent: number[],
  ): Promise<Json | undefined> {
    try {
      return await this.http.request("GET", `/_matrix/client/v3${path}?${new URLSearchParams(query)}`, {
        userId: asUser,
      });
    } catch (err) {
      if (!isBridgeError(err, "matrix_http")) {
        throw historyError(`cannot reach the homeserver: ${(err as Error).message}`);
      }
      if (err.status !== undefined && absent.includes(err.status)) return undefined;
      throw historyError(err.message, err.status);
    }
  }
}
