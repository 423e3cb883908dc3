// GhostSide on matrix-appservice-bridge: each ghost acts through its Intent
// (the appservice's token with ?user_id=), registered on first use.
// Sends go straight to PUT /send/{type}/{txnId} with a transaction id derived
// from the caller's key, so a send repeated after a crash or a redelivery is
// answered with the event the homeserver already made.
import { createHash } from "node:crypto";
import type { Bridge, Intent } from "matrix-appservice-bridge";
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { Logger } from "../logger.js";
import { addressFromGhostUserId, ghostUserId } from "../model/ghost-id.js";
import { parseMatrixEventId, type MatrixEventId, type MatrixUserId } from "../model/matrix-ids.js";
import type { GhostSide } from "../matrix-side.js";

/** The transaction id of a send keyed by `key` (the same key, the same id). */
export function txnIdOf(key: string): string {
  return `people.${createHash("sha256").update(key).digest("hex").slice(0, 32)}`;
}

const room = (roomId: string) => `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`;

export class GhostIntents implements GhostSide {
  /** Display names already checked in this process. */
  private readonly named = new Map<string, string>();

  constructor(private readonly o: { bridge: Bridge; domain: string; prefix: string; log: Logger }) {}

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

  async ensureGhost(ghost: MatrixUserId, displayName: string): Promise<void> {
    if (this.named.get(ghost) === displayName) return;
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

  async createDirectRoom(ghost: MatrixUserId, invitee: string): Promise<string> {
    const client = (await this.intent(ghost)).matrixClient;
    return client.createRoom({
      preset: "trusted_private_chat",
      visibility: "private",
      is_direct: true,
      invite: [invitee],
    });
  }

  async join(ghost: MatrixUserId, roomId: string): Promise<void> {
    await (await this.intent(ghost)).matrixClient.joinRoom(roomId);
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
  ): Promise<MatrixEventId> {
    const client = (await this.intent(ghost)).matrixClient;
    const path = `${room(roomId)}/send/${encodeURIComponent(type)}/${txnIdOf(`${ghost}\n${txnKey}`)}`;
    const answer = (await client.doRequest("PUT", path, null, content)) as { event_id?: unknown };
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
    const answer = (await client.doRequest("PUT", path, null, reason ? { reason } : {})) as {
      event_id?: unknown;
    };
    return parseMatrixEventId(answer.event_id);
  }
}
