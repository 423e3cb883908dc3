// What encrypting in a room needs to know about it: whether it is encrypted
// and how (m.room.encryption: algorithm and rotation), who may read
// (m.room.history_visibility) and who is in it. Read from the homeserver as
// a member of the room, cached, and forgotten when a state event of the room
// arrives in a transaction.
import { LRUCache } from "lru-cache";
import {
  CollectStrategy,
  EncryptionAlgorithm,
  EncryptionSettings,
  HistoryVisibility,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import { enc, type MatrixRequests } from "./matrix-requests.js";
import type { Json } from "./transaction-extensions.js";

export const MEGOLM = "m.megolm.v1.aes-sha2";

export interface RoomEncryption {
  algorithm: string;
  rotationPeriodMs?: number;
  rotationPeriodMsgs?: number;
}

export interface RoomCryptoInfo {
  /** null: the room is not encrypted. */
  encryption: RoomEncryption | null;
  historyVisibility: string;
  joined: string[];
  invited: string[];
}

const positiveInt = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : undefined;

/** The m.room.encryption content as typed values, or null when it names no algorithm. */
export function parseRoomEncryption(content: unknown): RoomEncryption | null {
  if (!content || typeof content !== "object") return null;
  const c = content as Json;
  if (typeof c.algorithm !== "string" || c.algorithm.length === 0) return null;
  const ms = positiveInt(c.rotation_period_ms);
  const msgs = positiveInt(c.rotation_period_msgs);
  return {
    algorithm: c.algorithm,
    ...(ms !== undefined ? { rotationPeriodMs: ms } : {}),
    ...(msgs !== undefined ? { rotationPeriodMsgs: msgs } : {}),
  };
}

/** Reads a room's state events into RoomCryptoInfo. */
export function roomCryptoInfo(state: readonly Json[]): RoomCryptoInfo {
  let encryption: RoomEncryption | null = null;
  let historyVisibility = "shared";
  const joined: string[] = [];
  const invited: string[] = [];
  for (const e of state) {
    if (e.state_key !== "" && e.type !== "m.room.member") continue;
    const content = (e.content && typeof e.content === "object" ? e.content : {}) as Json;
    if (e.type === "m.room.encryption") encryption = parseRoomEncryption(content) ?? encryption;
    else if (e.type === "m.room.history_visibility" && typeof content.history_visibility === "string")
      historyVisibility = content.history_visibility;
    else if (e.type === "m.room.member" && typeof e.state_key === "string") {
      if (content.membership === "join") joined.push(e.state_key);
      else if (content.membership === "invite") invited.push(e.state_key);
    }
  }
  return { encryption, historyVisibility, joined, invited };
}

/** Who gets the room key: the joined members, and the invited ones unless history is "joined" only. */
export function keyRecipients(info: RoomCryptoInfo): string[] {
  return info.historyVisibility === "joined" ? [...info.joined] : [...info.joined, ...info.invited];
}

/** The library's settings for this room's outbound sessions. */
export function encryptionSettings(info: RoomCryptoInfo): EncryptionSettings {
  const s = new EncryptionSettings();
  s.algorithm = EncryptionAlgorithm.MegolmV1AesSha2;
  s.historyVisibility =
    info.historyVisibility === "invited"
      ? HistoryVisibility.Invited
      : info.historyVisibility === "joined"
        ? HistoryVisibility.Joined
        : info.historyVisibility === "world_readable"
          ? HistoryVisibility.WorldReadable
          : HistoryVisibility.Shared;
  // The spec's defaults (one week, 100 messages) apply when the room sets none.
  s.rotationPeriod = BigInt(info.encryption?.rotationPeriodMs ?? 7 * 86_400_000) * 1000n;
  s.rotationPeriodMessages = BigInt(info.encryption?.rotationPeriodMsgs ?? 100);
  s.sharingStrategy = CollectStrategy.allDevices();
  return s;
}

/** Rooms whose state is kept (a ghost's portal each): the least recently used beyond it is read again. */
export const ROOMS_CACHED = 4096;

export class RoomStateCache {
  // Bounded: one entry per room ever asked about (every portal, encrypted or not) would grow with the ghosts.
  private readonly cache: LRUCache<string, Promise<RoomCryptoInfo>>;

  constructor(
    private readonly http: MatrixRequests,
    max = ROOMS_CACHED,
  ) {
    this.cache = new LRUCache({ max });
  }

  /** Rooms held now. */
  get size(): number {
    return this.cache.size;
  }

  /** The room as `userId` (a member) sees it. */
  get(roomId: string, userId: string): Promise<RoomCryptoInfo> {
    let p = this.cache.get(roomId);
    if (!p) {
      p = this.http
        .requestJson("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state`, { userId })
        .then((answer) => roomCryptoInfo(Array.isArray(answer) ? (answer as Json[]) : []));
      this.cache.set(roomId, p);
      const asked = p;
      p.catch(() => {
        if (this.cache.peek(roomId) === asked) this.cache.delete(roomId);
      });
    }
    return p;
  }

  invalidate(roomId: string): void {
    this.cache.delete(roomId);
  }
}
