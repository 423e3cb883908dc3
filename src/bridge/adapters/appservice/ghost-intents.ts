// GhostSide on matrix-appservice-bridge: each ghost acts through its Intent
// (the appservice's token with ?user_id=), registered on first use.
// Sends go straight to PUT /send/{type}/{txnId} with a transaction id derived
// from the caller's key, from the ghost's own device (ghost-devices.ts), so a
// send repeated after a crash, a redelivery or a homeserver restart is
// answered with the event the homeserver already made.
import { createHash } from "node:crypto";
import type { Bridge, Intent } from "matrix-appservice-bridge";
import type { PeopleAddress } from "../../../people/protocol/address.js";
import type { EndToBridge } from "../crypto/end-to-bridge.js";
import type { Logger } from "../../logger.js";
import { addressFromGhostUserId, ghostUserId } from "../../model/ghost-id.js";
import { parseMatrixEventId, type MatrixEventId, type MatrixUserId } from "../../model/matrix-ids.js";
import { decryptAttachment, encryptAttachment } from "../crypto/attachments.js";
import { MEGOLM } from "../crypto/room-state.js";
import type { EncryptedFile } from "../../model/matrix-content.js";
import type { RawRoomEvent } from "../../model/polls.js";
import { mediaErrorOf, type GhostSide } from "../../core/ports/matrix-side.js";
import { AppserviceHttp } from "./appservice-http.js";
import { settleRoomLevels } from "./room-levels.js";
import { GhostDevices } from "./ghost-devices.js";
import { BridgeError, isBridgeError } from "../../core/error-kinds.js";

/** The transaction id of a send keyed by `key` (the same key, the same id). */
export function txnIdOf(key: string): string {
  return `people.${createHash("sha256").update(key).digest("hex").slice(0, 32)}`;
}

const MXC = /^mxc:\/\/([^/]+)\/([A-Za-z0-9_-]+)$/;
const MEDIA_TIMEOUT_MS = 5 * 60_000;

/** Votes read for one poll's results: 50 pages of 100. */
const MAX_RELATION_PAGES = 50;

/** A room event from the homeserver, if it has the shape of one. */
function rawEvent(raw: unknown): RawRoomEvent | undefined {
  if (!raw || typeof raw !== "object") return undefined;
  const { type, sender, content, origin_server_ts: ts } = raw as Record<string, unknown>;
  if (typeof type !== "string" || typeof sender !== "string") return undefined;
  if (!content || typeof content !== "object" || Array.isArray(content)) return undefined;
  return {
    type,
    sender,
    content: content as Record<string, unknown>,
    ...(typeof ts === "number" && Number.isSafeInteger(ts) && { originServerTs: ts }),
  };
}

const room = (roomId: string) => `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`;

export class GhostIntents implements GhostSide {
  /** Display names already checked in this process. */
  private readonly named = new Map<string, string>();
  private readonly naming = new Map<string, Promise<void>>();
  private readonly devices: GhostDevices;
  /** Plain requests as a ghost, with the status and errcode of a refusal (state events). */
  private readonly http: AppserviceHttp;

  constructor(
    private readonly o: {
      bridge: Bridge;
      domain: string;
      prefix: string;
      log: Logger;
      /** For media downloads: the homeserver's client-server URL and the appservice token. */
      homeserverUrl: string;
      asToken: string;
      /** Encrypts sends into encrypted rooms; ghosts get their device before they join or create a room. */
      e2b?: EndToBridge;
    },
  ) {
    this.devices = new GhostDevices(o.log);
    this.http = new AppserviceHttp(o.homeserverUrl, o.asToken);
  }

  ghostId(address: PeopleAddress): MatrixUserId {
    return ghostUserId(address, this.o.domain, this.o.prefix);
  }

  addressOf(userId: string): PeopleAddress | null {
    return addressFromGhostUserId(userId, this.o.domain, this.o.prefix);
  }

  private async intent(ghost: MatrixUserId): Promise<Intent> {
    const intent = this.o.bridge.getIntent(ghost);
    await intent.ensureRegistered();
    return intent;
  }

  /** Registered and named once however many rooms ask at the same time (rooms run side by side). */
  ensureGhost(ghost: MatrixUserId, displayName: string): Promise<void> {
    if (this.named.get(ghost) === displayName) return Promise.resolve();
    const key = `${ghost}\n${displayName}`;
    let naming = this.naming.get(key);
    if (!naming) {
      naming = this.name(ghost, displayName).finally(() => this.naming.delete(key));
      this.naming.set(key, naming);
    }
    return naming;
  }

  private async name(ghost: MatrixUserId, displayName: string): Promise<void> {
    const client = (await this.intent(ghost)).matrixClient;
    let current: unknown;
    try {
      current = ((await client.getUserProfile(ghost)) as { displayname?: unknown }).displayname;
    } catch (err) {
      // A user registered without a profile row yet.
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    if (current !== displayName) {
      await client.setDisplayName(displayName);
      this.o.log.debug({ ghost }, "ghost display name set");
    }
    this.named.set(ghost, displayName);
  }

  /** The ghost's avatar (an mxc URI, or "" for none); ghost-profiles.ts decides when. */
  async setAvatar(ghost: MatrixUserId, mxc: string): Promise<void> {
    await (await this.intent(ghost)).matrixClient.setAvatarUrl(mxc);
  }

  async createDirectRoom(ghost: MatrixUserId, invitee: string): Promise<string> {
    const client = (await this.intent(ghost)).matrixClient;
    const roomId = await client.createRoom({
      preset: "trusted_private_chat",
      visibility: "private",
      is_direct: true,
      invite: [invitee],
      ...(await this.initialStateFor(ghost)),
    });
    await settleRoomLevels(client, roomId);
    return roomId;
  }

  /**
   * The initial state of a room the bridge makes. History is visible from a member's invite
   * on (`invited`): People shows a new member only what is sent after they were added, and the
   * bridge's invitees (the Matrix users, added when the room is made or grown) must read what
   * is sent before they accept; `joined` would hide that first message, and keep its room key
   * from them in an encrypted room. Encrypted under encryption.default or require, with the
   * creator's device (cross-signed) made first, so that the invitees' clients find it signed
   * and share their room keys with it from their first message.
   */
  private async initialStateFor(creator: MatrixUserId): Promise<{
    initial_state: { type: string; state_key: string; content: Record<string, unknown> }[];
  }> {
    const history = {
      type: "m.room.history_visibility",
      state_key: "",
      content: { history_visibility: "invited" },
    };
    const e2b = this.o.e2b;
    if (e2b) await e2b.ensureDevice(creator);
    if (!e2b || (!e2b.config.default && !e2b.config.require)) return { initial_state: [history] };
    return {
      initial_state: [history, { type: "m.room.encryption", state_key: "", content: { algorithm: MEGOLM } }],
    };
  }

  async createGroupRoom(
    ghost: MatrixUserId,
    o: { name: string; topic?: string; invite: readonly string[]; admins: readonly string[] },
  ): Promise<string> {
    const client = (await this.intent(ghost)).matrixClient;
    const roomId = await client.createRoom({
      preset: "private_chat",
      visibility: "private",
      name: o.name,
      ...(o.topic !== undefined && { topic: o.topic }),
      invite: [...o.invite],
      // The other ghosts get their devices in join(), before they join and speak.
      ...(await this.initialStateFor(ghost)),
    });
    // Admins and call members in one power levels event (room-levels.ts says why not at creation).
    await settleRoomLevels(client, roomId, o.admins);
    return roomId;
  }

  async setRoomAvatar(ghost: MatrixUserId, roomId: string, mxc: string): Promise<void> {
    await (await this.intent(ghost)).matrixClient.sendStateEvent(roomId, "m.room.avatar", "", { url: mxc });
  }

  async invite(ghost: MatrixUserId, roomId: string, userId: string): Promise<void> {
    try {
      await (await this.intent(ghost)).matrixClient.inviteUser(userId, roomId);
    } catch (err) {
      // Synapse answers 403 "… is already in the room" to an invite of a member.
      const e = err as { error?: unknown; body?: { error?: unknown } };
      const text = typeof e.error === "string" ? e.error : e.body?.error;
      if (typeof text === "string" && /already in the room/i.test(text)) return;
      throw err;
    }
  }

  async join(ghost: MatrixUserId, roomId: string): Promise<void> {
    const intent = await this.intent(ghost);
    if (this.o.e2b) await this.o.e2b.ensureDevice(ghost);
    await intent.matrixClient.joinRoom(roomId);
  }

  async roomState(ghost: MatrixUserId, roomId: string, type: string, stateKey: string) {
    const path = `${room(roomId)}/state/${encodeURIComponent(type)}/${encodeURIComponent(stateKey)}`;
    try {
      const client = (await this.intent(ghost)).matrixClient;
      // format=event (Matrix 1.16, Synapse for long): the event with its sender, else just its content.
      const got = (await client.doRequest("GET", path, { format: "event" })) as Record<string, unknown>;
      const content = got.content;
      if (content && typeof content === "object" && !Array.isArray(content) && typeof got.type === "string")
        return {
          content: content as Record<string, unknown>,
          ...(typeof got.sender === "string" && { sender: got.sender }),
        };
      return { content: got };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  async joinedMembers(ghost: MatrixUserId, roomId: string): Promise<string[]> {
    return (await this.intent(ghost)).matrixClient.getJoinedRoomMembers(roomId);
  }

  async kick(ghost: MatrixUserId, roomId: string, userId: string, reason: string): Promise<void> {
    await (await this.intent(ghost)).matrixClient.kickUser(userId, roomId, reason);
  }

  async leave(ghost: MatrixUserId, roomId: string, reason?: string): Promise<void> {
    await (await this.intent(ghost)).matrixClient.leaveRoom(roomId, reason);
  }

  async sendEvent(
    ghost: MatrixUserId,
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    txnKey: string,
    o?: { ts?: number },
  ): Promise<MatrixEventId> {
    const client = (await this.intent(ghost)).matrixClient;
    const out = this.o.e2b ? await this.o.e2b.prepareSend(ghost, roomId, type, content) : { type, content };
    // The same transaction id whether encrypted or not, from the ghost's own device: Synapse
    // answers a resend with the first event, even across its restarts.
    const path = `${room(roomId)}/send/${encodeURIComponent(out.type)}/${txnIdOf(`${ghost}\n${txnKey}`)}`;
    const device = await this.devices.query(ghost, client);
    const query = o?.ts !== undefined ? { ...device, ts: String(o.ts) } : device;
    const answer = (await client.doRequest("PUT", path, query, out.content)) as { event_id?: unknown };
    return parseMatrixEventId(answer.event_id);
  }

  async redact(
    ghost: MatrixUserId,
    roomId: string,
    eventId: MatrixEventId,
    reason: string | undefined,
    txnKey: string,
  ): Promise<MatrixEventId> {
    const client = (await this.intent(ghost)).matrixClient;
    const path = `${room(roomId)}/redact/${encodeURIComponent(eventId)}/${txnIdOf(`${ghost}\n${txnKey}`)}`;
    const device = await this.devices.query(ghost, client);
    const answer = (await client.doRequest("PUT", path, device, reason ? { reason } : {})) as {
      event_id?: unknown;
    };
    return parseMatrixEventId(answer.event_id);
  }

  async roomEvent(
    ghost: MatrixUserId,
    roomId: string,
    eventId: MatrixEventId,
  ): Promise<RawRoomEvent | undefined> {
    const client = (await this.intent(ghost)).matrixClient;
    try {
      const raw: unknown = await client.doRequest(
        "GET",
        `${room(roomId)}/event/${encodeURIComponent(eventId)}`,
      );
      return rawEvent(raw);
    } catch (err) {
      // Gone, or never visible to the ghost: not a poll it can answer.
      const status = (err as { statusCode?: number }).statusCode;
      if (status === 404 || status === 403) return undefined;
      throw err;
    }
  }

  async references(ghost: MatrixUserId, roomId: string, eventId: MatrixEventId): Promise<RawRoomEvent[]> {
    const client = (await this.intent(ghost)).matrixClient;
    const path = `/_matrix/client/v1/rooms/${encodeURIComponent(roomId)}/relations/${encodeURIComponent(eventId)}/m.reference`;
    const events: RawRoomEvent[] = [];
    let from: string | undefined;
    for (let page = 0; page < MAX_RELATION_PAGES; page++) {
      const qs = { dir: "f", limit: 100, ...(from !== undefined && { from }) };
      const answer = (await client.doRequest("GET", path, qs)) as { chunk?: unknown; next_batch?: unknown };
      const chunk = Array.isArray(answer.chunk) ? answer.chunk : [];
      for (const raw of chunk) {
        const e = rawEvent(raw);
        if (e) events.push(e);
      }
      if (typeof answer.next_batch !== "string" || chunk.length === 0) break;
      from = answer.next_batch;
    }
    return events;
  }

  async downloadMedia(mxc: string, maxBytes: number): Promise<Buffer> {
    const match = MXC.exec(mxc);
    if (!match) throw new BridgeError("media_not_found", "not an mxc URI");
    const [, server, mediaId] = match;
    // Authenticated media (Matrix 1.11): Synapse freezes the unauthenticated endpoints for new media.
    const url =
      `${this.o.homeserverUrl.replace(/\/+$/, "")}/_matrix/client/v1/media/download/` +
      `${encodeURIComponent(server!)}/${encodeURIComponent(mediaId!)}?timeout_ms=20000`;
    try {
      const res = await fetch(url, {
        headers: { authorization: `Bearer ${this.o.asToken}` },
        signal: AbortSignal.timeout(MEDIA_TIMEOUT_MS),
      });
      if (!res.ok) {
        await res.body?.cancel();
        throw mediaErrorOf(res.status);
      }
      const declared = Number(res.headers.get("content-length") ?? NaN);
      if (declared > maxBytes) {
        await res.body?.cancel();
        throw new BridgeError("media_too_large", "media larger than the cap");
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res.body ?? []) {
        size += chunk.length;
        if (size > maxBytes) throw new BridgeError("media_too_large", "media larger than the cap");
        chunks.push(Buffer.from(chunk));
      }
      return Buffer.concat(chunks);
    } catch (err) {
      if (
        isBridgeError(err, "media_too_large") ||
        isBridgeError(err, "media_not_found") ||
        isBridgeError(err, "media_refused")
      )
        throw err;
      if (isBridgeError(err, "media_unavailable")) throw err;
      // The network, a timeout, a connection cut mid-body: may pass.
      throw new BridgeError(
        "media_unavailable",
        `media download failed: ${err instanceof Error ? err.name : "error"}`,
        {
          cause: err,
        },
      );
    }
  }

  async downloadEncryptedMedia(file: EncryptedFile, maxBytes: number): Promise<Buffer> {
    try {
      return decryptAttachment(await this.downloadMedia(file.url, maxBytes), file);
    } catch (err) {
      if (isBridgeError(err, "attachment_unreadable")) throw new BridgeError("media_refused", err.message);
      throw err;
    }
  }

  async uploadRoomMedia(ghost: MatrixUserId, roomId: string, bytes: Buffer, mime: string, name?: string) {
    if (!this.o.e2b || !(await this.o.e2b.isEncrypted(roomId, ghost)))
      return { url: await this.uploadMedia(ghost, bytes, mime, name) };
    const { ciphertext, file } = encryptAttachment(bytes);
    // The homeserver sees only ciphertext, under a neutral type.
    const url = await this.uploadMedia(ghost, ciphertext, "application/octet-stream");
    return { file: { ...file, url } };
  }

  async uploadMedia(ghost: MatrixUserId, bytes: Buffer, mime: string, name?: string): Promise<string> {
    return (await this.intent(ghost)).matrixClient.uploadContent(bytes, mime, name);
  }

  async sendReadReceipt(ghost: MatrixUserId, roomId: string, eventId: MatrixEventId): Promise<void> {
    await (await this.intent(ghost)).matrixClient.sendReadReceipt(roomId, eventId);
  }

  async sendTyping(ghost: MatrixUserId, roomId: string, active: boolean, timeoutMs: number): Promise<void> {
    await (await this.intent(ghost)).matrixClient.setTyping(roomId, active, active ? timeoutMs : undefined);
  }

  async setRoomState(
    ghost: MatrixUserId,
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ): Promise<void> {
    await this.intent(ghost);
    const path = `${room(roomId)}/state/${encodeURIComponent(type)}/${encodeURIComponent(stateKey)}`;
    await this.http.request("PUT", path, { userId: ghost }, content);
  }
}
