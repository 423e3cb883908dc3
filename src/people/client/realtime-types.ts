// The realtime vocabulary shared by the session, its transports and the manager.
import type { ErrorCode } from "../errors.js";
import type { PeopleAddress } from "../protocol/address.js";
import type { DeviceId } from "../protocol/ids.js";
import type { Ed25519PublicKey, X25519PublicKey } from "../protocol/keys.js";

export type RtMedia = "data";
export type RtTransport = "direct" | "relay" | "envelope";
export type HangupReason = "normal" | "busy" | "declined" | "failed" | "timeout";
export const HANGUP_REASONS: readonly string[] = ["normal", "busy", "declined", "failed", "timeout"];

export interface RtPeer {
  address: PeopleAddress;
  /** The peer device; for a call not answered yet, undefined (every device of the callee rings). */
  device: DeviceId | undefined;
}

export interface RtSessionEvents {
  /** Frames can flow: the caller picked its transport and said hello, or the callee heard it. */
  open: { transport: RtTransport };
  /** This side now sends over `transport` (e.g. relay gave way to envelopes). */
  transport: { transport: RtTransport };
  data: Buffer;
  /** A frame that was refused: altered or forged, replayed, reordered. */
  rejected: { code: ErrorCode; detail: string; via: RtTransport };
  close: { reason: HangupReason; remote: boolean };
}

export type RtState = "calling" | "connecting" | "open" | "closed";

export interface IncomingCall {
  session: string;
  from: PeopleAddress;
  device: DeviceId;
  media: RtMedia;
  /** When the caller signed the offer. */
  ts: number;
}

export interface RealtimeEvents {
  /** Someone calls this device: accept() or decline() it. */
  offer: IncomingCall;
  /** An incoming call went away before this device answered: cancelled, expired, or handled on another device. */
  offerEnded: { session: string; from: string; reason: string };
  error: { where: string; error: unknown };
}

export interface CallOptions {
  media?: RtMedia;
  /** Hang up with "timeout" when nobody answered in this time (default 60 s). */
  timeoutMs?: number;
  /** Connect to a direct endpoint the callee advertises (default true). */
  direct?: boolean;
}

export interface AcceptOptions {
  /** Listen for a direct connection here (port 0: any); the address goes into the answer. */
  listen?: { host: string; port: number };
  /** Advertise this ws://host:port (or wss://) URL instead of the listening address (e.g. behind a port mapping). */
  advertise?: string;
  /** End the session when the caller has not said hello in this time (default 30 s). */
  helloTimeoutMs?: number;
}

/** The live socket as realtime uses it. */
export interface LiveLink {
  readonly ready: boolean;
  send(frame: object): boolean;
}

/** An offer ringing on this device, with what accepting it needs. */
export interface PendingOffer extends IncomingCall {
  eph: X25519PublicKey;
  signKey: Ed25519PublicKey;
  exp: number;
}
