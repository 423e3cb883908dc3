// The MatrixRTC calls (src/bridge/adapters/rtc) as startBridge runs them when
// bridge.matrixrtc.enabled: the ghost's real Matrix side (rtc-ghost.ts), LiveKit
// through the focus the homeserver advertises, libwebrtc for the People leg, and
// the two routes in: MatrixRTC room events before the legacy calls feature, and
// People call offers to a Matrix user before the legacy flow.
import { randomBytes } from "node:crypto";
import { isAbsolute, resolve } from "node:path";
import type { ProcessedToDeviceEvent } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { PeopleAddress } from "../people/protocol/address.js";
import type { CryptoManager } from "./adapters/crypto/crypto-manager.js";
import type { MatrixRequests } from "./adapters/crypto/matrix-requests.js";
import { livekitTokenFor } from "./adapters/rtc/livekit-token.js";
import { RtcCalls } from "./adapters/rtc/rtc-calls.js";
export { RTC_EVENT_TYPES } from "./adapters/rtc/rtc-calls.js";
import { endLeftoverRtcCalls } from "./adapters/rtc/rtc-leftovers.js";
import type { LivekitTransport } from "./adapters/rtc/rtc-events.js";
import { livekitFocusOf } from "./adapters/rtc/rtc-foci.js";
import { callMediaModes, type CallMediaModes, type MediaMode } from "./adapters/rtc/media-mode.js";
import { mediaKeysFrom, rtcGhostPort } from "./adapters/rtc/rtc-ghost.js";
import type { GhostSide, MatrixSide, RoomEvent } from "./core/ports/matrix-side.js";
import type { MatrixUserId } from "./model/matrix-ids.js";
import type { IncomingHandler, PeopleSide } from "./core/ports/people-side.js";
import type { Portal, RtcCallStore } from "./core/ports/store.js";
import type { Logger } from "./logger.js";

export interface BridgeRtc {
  /** True when the event was a MatrixRTC event (handled here). */
  handle(event: RoomEvent): Promise<boolean>;
  /** People call offers and their ends for the calls bridged here; the rest to `next`. */
  withOwnFlow(next: IncomingHandler): IncomingHandler;
  /** The media keys a ghost's machine decrypted (EndToBridge's onToDevice). */
  onToDevice(userId: string, processed: ProcessedToDeviceEvent[]): void;
  /** Ends both legs of every call a crash left recorded (once the accounts run); how many. Never rejects. */
  endLeftovers(): Promise<number>;
  stop(): Promise<void>;
  /** The calls' media path (bridge.matrixrtc.media) and its sidecar. */
  readonly media: CallMediaModes;
}

/** The transcode path's stacks (rtc-node, libwebrtc), loaded only when a call takes it. */
async function loadTranscode() {
  const [{ LivekitLeg }, { wrtcEngine }, { transcodeMedia }] = await Promise.all([
    import("./adapters/rtc/livekit-leg.js"),
    import("../people/client/calls/wrtc-engine.js"),
    import("./adapters/rtc/transcode-media.js"),
  ]);
  return transcodeMedia({ newLeg: () => new LivekitLeg(), createPeer: (p) => wrtcEngine.createPeer(p) });
}

function mediaOf(c: { media: MediaMode; relay_binary: string }): { mode: MediaMode; binary: string } {
  return { mode: c.media, binary: relayBinaryPath(c.relay_binary) };
}

/** A relative relay_binary is under the bridge's install (where the build script puts it). */
export function relayBinaryPath(configured: string): string {
  return isAbsolute(configured) ? configured : resolve(__dirname, "..", "..", configured);
}

/** How long the homeserver's advertised focus is trusted before it is asked again. */
const FOCUS_TTL_MS = 60_000;

export function createBridgeRtc(o: {
  homeserverUrl: string;
  http: MatrixRequests;
  ghosts: GhostSide;
  crypto: CryptoManager;
  /** Whether a room is encrypted, as `asUser` sees its state (EndToBridge.isEncrypted). */
  isEncrypted(roomId: string, asUser: string): Promise<boolean>;
  people: PeopleSide;
  dms: {
    byRoom(roomId: string): Promise<Portal | undefined>;
    byPair(user: string, address: PeopleAddress): Promise<Portal | undefined>;
    /** The DM portal for a first call from `address` (created by its ghost, the user invited). */
    ensurePortal(user: MatrixUserId, address: PeopleAddress): Promise<{ portal: Portal }>;
  };
  isGroupRoom(roomId: string): Promise<boolean>;
  /** A notice from the bot (rooms with no portal ghost to speak). */
  botNotice(roomId: string, text: string, txnKey: string): Promise<void>;
  /** The calls' rows (migration 023); without it a crash mid-call is not cleaned up at start. */
  store?: RtcCallStore | undefined;
  /** bridge.matrixrtc's media and relay_binary (default: transcode, as before the sidecar). */
  media?: { mode: MediaMode; binary: string; args?: string[] };
  log: Logger;
}): BridgeRtc {
  const log = o.log.child({ component: "rtc" });
  const modes = callMediaModes({
    mode: o.media?.mode ?? "transcode",
    binary: o.media?.binary ?? "",
    ...(o.media?.args ? { args: o.media.args } : {}),
    loadTranscode,
    log,
  });
  let focus: { at: number; value: LivekitTransport | undefined } | undefined;
  const discover = async (): Promise<LivekitTransport | undefined> => {
    if (focus && Date.now() - focus.at < FOCUS_TTL_MS) return focus.value;
    const res = await fetch(`${o.homeserverUrl}/.well-known/matrix/client`, {
      signal: AbortSignal.timeout(10_000),
    }).catch(() => undefined);
    const found = res?.ok ? livekitFocusOf(await res.json().catch(() => undefined)) : undefined;
    if (found && !found.ok) log.info({ why: found.reason }, "no LiveKit focus for MatrixRTC calls");
    focus = { at: Date.now(), value: found?.ok ? found.value : undefined };
    return focus.value;
  };
  const ghost = rtcGhostPort({
    http: o.http,
    ghosts: o.ghosts,
    crypto: {
      deviceOf: (u) => o.crypto.with(u, (id) => Promise.resolve(id.deviceId)),
      sendEncryptedToDevice: (u, targets, type, content) =>
        o.crypto.with(u, (id) => id.sendEncryptedToDevice(targets, type, content)),
    },
    isEncrypted: (roomId, asUser) => o.isEncrypted(roomId, asUser),
  });
  const rtc = new RtcCalls({
    ghost,
    ...(o.store ? { store: o.store } : {}),
    media: {
      ...modes.ports,
      token: async (t) => livekitTokenFor(t),
      newKey: () => randomBytes(16),
    },
    people: o.people,
    dms: o.dms,
    isGroupRoom: (roomId) => o.isGroupRoom(roomId),
    ghostOf: (address) => o.ghosts.ghostId(address),
    focus: discover,
    async tell(roomId, text, replyTo) {
      const portal = await o.dms.byRoom(roomId);
      const txnKey = `rtc.notice.${replyTo ?? randomBytes(8).toString("hex")}`;
      if (!portal) return o.botNotice(roomId, text, txnKey);
      const ghost = o.ghosts.ghostId(portal.peopleAddress as PeopleAddress);
      await o.ghosts.sendEvent(ghost, roomId, "m.room.message", { msgtype: "m.notice", body: text }, txnKey);
    },
    log,
  });
  return {
    handle: (event) => rtc.handle(event),
    withOwnFlow: (next) => async (account, m) => {
      const c = m.content;
      if (c.type === "rt_offer" && c.media !== "data") {
        const ring = account.calls?.ringing(c.session);
        // A homeserver that advertises no LiveKit focus has no Element Call: its users ring the
        // legacy way (m.call.invite), as with the switch off.
        if (ring && (await discover())) {
          // A first call from the address makes the DM portal (as a first message does) and rings there.
          const portal =
            (await o.dms.byPair(account.owner, m.from)) ??
            (await o.dms.ensurePortal(account.owner, m.from)).portal;
          return rtc.ringMatrix(portal, ring);
        }
      }
      if (c.type === "rt_hangup") {
        const portal = await o.dms.byPair(account.owner, m.from);
        if (portal && rtc.callIn(portal.roomId)) return rtc.peopleRingEnded(portal.roomId, c.session);
      }
      return next(account, m);
    },
    onToDevice(userId, processed) {
      const dropped = (why: string) => log.debug({ ghost: userId, why }, "a MatrixRTC media key dropped");
      if (processed.length > 0)
        log.debug({ ghost: userId, types: processed.map((p) => p.type) }, "to-device events for a ghost");
      for (const k of mediaKeysFrom(processed, dropped)) {
        log.debug(
          { ghost: userId, room: k.roomId, device: k.deviceId, index: k.index },
          "a MatrixRTC media key arrived",
        );
        rtc.mediaKey(k.roomId, k.userId, k.deviceId, k.key, k.index);
      }
    },
    endLeftovers: async () => {
      if (!o.store) return 0;
      return endLeftoverRtcCalls({
        store: o.store,
        ghost,
        people: o.people,
        log,
        live: () => rtc.live(),
      }).catch((err: unknown) => {
        log.warn({ err }, "MatrixRTC calls a crash cut could not be read");
        return 0;
      });
    },
    stop: async () => {
      await rtc.stop();
      await modes.stop();
    },
    media: modes,
  };
}

/** createBridgeRtc from the pieces startBridge holds. */
export function bridgeRtc(
  e2b: { manager: CryptoManager; isEncrypted(roomId: string, asUser: string): Promise<boolean> },
  b: {
    homeserverUrl: string;
    http: MatrixRequests;
    ghosts: GhostSide;
    people: PeopleSide;
    portals: {
      service: Parameters<typeof createBridgeRtc>[0]["dms"];
      groups: { byRoom(roomId: string): Promise<unknown> };
    };
    adapter: Pick<MatrixSide, "sendNotice">;
    store: { rtcCalls?: RtcCallStore };
    log: Logger;
    /** bridge.matrixrtc's media path. */
    config?: { bridge: { matrixrtc: { media: MediaMode; relay_binary: string } } };
  },
): BridgeRtc {
  return createBridgeRtc({
    homeserverUrl: b.homeserverUrl,
    http: b.http,
    ghosts: b.ghosts,
    crypto: e2b.manager,
    isEncrypted: (roomId, asUser) => e2b.isEncrypted(roomId, asUser),
    people: b.people,
    dms: b.portals.service,
    isGroupRoom: async (roomId) => (await b.portals.groups.byRoom(roomId)) !== undefined,
    botNotice: (roomId, text, txnKey) => b.adapter.sendNotice(roomId, { text }, { txnKey }),
    store: b.store.rtcCalls,
    ...(b.config ? { media: mediaOf(b.config.bridge.matrixrtc) } : {}),
    log: b.log,
  });
}
