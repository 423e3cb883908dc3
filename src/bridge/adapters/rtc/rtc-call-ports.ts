// What a bridged MatrixRTC call needs from the rest of the bridge, as small interfaces so the
// call's logic runs (and is unit-tested) without Synapse, LiveKit or libwebrtc.
import type { MediaPeer, PeerOptions } from "../../../people/client/calls/media-engine.js";
import type { LegVideoFrame } from "./livekit-leg.js";

/** The ghost's Matrix actions for a call (the appservice and the ghost's crypto device). */
export interface RtcGhostPort {
  /** The ghost's own crypto device (made on first use): the device it joins the call with. */
  device(ghost: string): Promise<string>;
  /** An OpenID token of the ghost (POST /user/{ghost}/openid/request_token as the appservice). */
  openIdToken(ghost: string): Promise<unknown>;
  /** Sets a state event as the ghost; resolves with its event id. */
  setState(
    ghost: string,
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ): Promise<string>;
  /** Sends a room event as the ghost (encrypted in an encrypted room); resolves with its id. */
  send(
    ghost: string,
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    txnKey: string,
  ): Promise<string>;
  /**
   * Whether the room is encrypted: Element Call encrypts a call's media (per-participant keys)
   * only in a room with m.room.encryption, and sends no keys elsewhere.
   */
  roomEncrypted(ghost: string, roomId: string): Promise<boolean>;
  /** The ghost's media key to these call devices, Olm-encrypted from its own device. */
  sendMediaKey(
    ghost: string,
    roomId: string,
    targets: { userId: string; deviceId: string }[],
    key: { index: number; key: Uint8Array },
  ): Promise<void>;
  /**
   * MSC4140: schedules, as the ghost, the state event that empties its membership `delayMs` from
   * now (Element Call's delayed leave); resolves with the homeserver's delay id.
   */
  scheduleLeave?(ghost: string, roomId: string, stateKey: string, delayMs: number): Promise<string>;
  /** Restarts a delayed leave's countdown (the ghost is still in the call). */
  refreshLeave?(ghost: string, delayId: string): Promise<void>;
  /** Cancels a delayed leave (the membership was emptied already). */
  cancelLeave?(ghost: string, delayId: string): Promise<void>;
  /** A room's state event content as the ghost reads it (undefined when there is none). */
  roomState?(
    ghost: string,
    roomId: string,
    type: string,
    stateKey: string,
  ): Promise<Record<string, unknown> | undefined>;
}

/** The ghost's LiveKit connection as a call drives it, in both media modes. */
export interface CallRtcLeg {
  connect(url: string, jwt: string, o: { video?: boolean; e2ee?: boolean }): Promise<void>;
  setKey(identity: string, key: Uint8Array, index: number): void;
  on(event: "left", h: (identity: string) => void): void;
  close(): Promise<void>;
}

/** The ghost's LiveKit connection handing out decoded media (LivekitLeg: the transcode mode). */
export interface RtcLeg extends CallRtcLeg {
  on(event: "audio", h: (identity: string, pcm: Int16Array, sampleRate: number) => void): void;
  on(event: "video", h: (identity: string, frame: LegVideoFrame) => void): void;
  on(event: "left", h: (identity: string) => void): void;
  sendPcm(pcm: Int16Array): Promise<void>;
  sendVideo(frame: LegVideoFrame): void;
}

/**
 * One call's media: the ghost's LiveKit leg, the People leg's peer and the relay between them,
 * either in the bridge (transcode: decoded and re-encoded) or in the people-rtc-relay sidecar
 * (passthrough: Opus and VP8 frames as they come).
 */
export interface CallMedia {
  readonly leg: CallRtcLeg;
  readonly peer: MediaPeer;
  /** The LiveKit identity whose media goes to People (the Matrix user's call device). */
  from(identity: string): void;
  /** The media path died under the call (the sidecar process): the call ends. */
  onLost(h: (reason: string) => void): void;
  /** Ends the relay (the legs are closed by the call). */
  close(): void;
}

export interface RtcMediaPorts {
  /** Called before each call's media is made (the sidecar started and its hello checked). */
  prepare?(): Promise<void>;
  newCallMedia(o: Pick<PeerOptions, "media" | "iceServers">): CallMedia;
  token(o: {
    focus: import("./rtc-events.js").LivekitTransport;
    roomId: string;
    deviceId: string;
    openId: unknown;
  }): Promise<{
    url: string;
    jwt: string;
  }>;
  /** 16 random bytes: the ghost's media key for one call. */
  newKey(): Uint8Array;
}
