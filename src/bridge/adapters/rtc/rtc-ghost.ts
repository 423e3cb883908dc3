// The ghost's side of a bridged MatrixRTC call on the real homeserver (RtcGhostPort): its own
// crypto device (the one it joins the call with), an OpenID token asked for as the ghost through
// the appservice, its call membership as a state event, its ring and lines as room events, and
// its media key Olm-encrypted from its own device. Media keys others send the ghost are picked
// from the to-device events its machine decrypted (mediaKeysFrom).
import { z } from "zod";
import type { MatrixUserId } from "../../model/matrix-ids.js";
import type { GhostSide } from "../../core/ports/matrix-side.js";
import { enc, type MatrixRequests } from "../crypto/matrix-requests.js";
import type { Json } from "../crypto/transaction-extensions.js";
import { mediaKeyContent, mediaKeysOf } from "./media-keys.js";
import type { RtcGhostPort } from "./rtc-call-ports.js";
import { CALL_MEMBER_TYPE, ENCRYPTION_KEYS_TYPE } from "./rtc-events.js";
import { livekitIdentity } from "./rtc-foci.js";

/** What the ghost's crypto offers (EndToBridge's CryptoManager). */
export interface GhostCrypto {
  deviceOf(userId: string): Promise<string>;
  sendEncryptedToDevice(
    userId: string,
    targets: readonly { userId: string; deviceId: string }[],
    type: string,
    content: Json,
  ): Promise<string[]>;
}

/** An OpenID token as the homeserver gives it (what lk-jwt-service checks). */
const OpenIdToken = z.object({
  access_token: z.string().min(1).max(1024),
  token_type: z.string().max(64),
  matrix_server_name: z.string().min(1).max(255),
  expires_in: z.number().int().positive(),
});

const EventId = z.object({ event_id: z.string().min(1).max(255) });
const DelayId = z.object({ delay_id: z.string().min(1).max(255) });

/** MSC4140's unstable prefix (Synapse 1.163: enabled by max_event_delay_duration). */
const DELAYED = "/_matrix/client/unstable/org.matrix.msc4140/delayed_events";

export function rtcGhostPort(o: {
  http: MatrixRequests;
  ghosts: Pick<GhostSide, "sendEvent" | "roomState">;
  crypto: GhostCrypto;
  /** Whether the room is encrypted, as the ghost sees its state (EndToBridge.isEncrypted). */
  isEncrypted(roomId: string, asUser: string): Promise<boolean>;
}): RtcGhostPort {
  return {
    device: (ghost) => o.crypto.deviceOf(ghost),
    roomEncrypted: (ghost, roomId) => o.isEncrypted(roomId, ghost),
    async openIdToken(ghost) {
      const answer = await o.http.request(
        "POST",
        `/_matrix/client/v3/user/${enc(ghost)}/openid/request_token`,
        { userId: ghost },
        {},
      );
      const token = OpenIdToken.safeParse(answer);
      if (!token.success) throw new Error("the homeserver gave the ghost no usable OpenID token");
      return token.data;
    },
    async setState(ghost, roomId, type, stateKey, content) {
      const answer = await o.http.request(
        "PUT",
        `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`,
        { userId: ghost },
        content,
      );
      const id = EventId.safeParse(answer);
      if (!id.success) throw new Error("the homeserver answered a state event with no event id");
      return id.data.event_id;
    },
    async scheduleLeave(ghost, roomId, stateKey, delayMs) {
      const answer = await o.http.request(
        "PUT",
        `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(CALL_MEMBER_TYPE)}/${enc(stateKey)}` +
          `?org.matrix.msc4140.delay=${Math.round(delayMs)}`,
        { userId: ghost },
        {},
      );
      const id = DelayId.safeParse(answer);
      if (!id.success) throw new Error("the homeserver answered a delayed event with no delay id");
      return id.data.delay_id;
    },
    async refreshLeave(ghost, delayId) {
      await o.http.request("POST", `${DELAYED}/${enc(delayId)}`, { userId: ghost }, { action: "restart" });
    },
    async cancelLeave(ghost, delayId) {
      await o.http.request("POST", `${DELAYED}/${enc(delayId)}`, { userId: ghost }, { action: "cancel" });
    },
    async roomState(ghost, roomId, type, stateKey) {
      return (await o.ghosts.roomState(ghost as MatrixUserId, roomId, type, stateKey))?.content;
    },
    send: (ghost, roomId, type, content, txnKey) =>
      o.ghosts.sendEvent(ghost as MatrixUserId, roomId, type, content, txnKey),
    async sendMediaKey(ghost, roomId, targets, key) {
      const deviceId = await o.crypto.deviceOf(ghost);
      const content = mediaKeyContent({
        roomId,
        deviceId,
        memberId: livekitIdentity(ghost, deviceId),
        index: key.index,
        key: key.key,
      });
      const unknown = await o.crypto.sendEncryptedToDevice(
        ghost,
        targets,
        ENCRYPTION_KEYS_TYPE,
        content as Json,
      );
      if (unknown.length > 0) throw new Error(`the ghost's device does not know ${unknown.join(", ")}`);
    },
  };
}

/** The media keys in what a ghost's machine processed (RtcCalls.mediaKey takes each). */
export const mediaKeysFrom = mediaKeysOf;
