// The calls manager's vocabulary: a ringing call, the manager's events, and
// the options of placing and answering a call.
import type { PeopleAddress } from "../../protocol/address.js";
import type { DeviceId } from "../../protocol/ids.js";
import type { TargetedMessage } from "../targeted-send.js";
import type { Call } from "./call.js";
import type { AudioInput, CallMedia, IceServer, MediaEngine } from "./media-engine.js";

export interface IncomingCall {
  session: string;
  from: PeopleAddress;
  device: DeviceId;
  media: CallMedia;
  ts: number;
  /** The caller's SDP offer (a signalling-only client gives it to its own WebRTC stack). */
  sdp: string;
  dtlsFingerprint: string;
}

export interface Ringing extends IncomingCall {
  exp: number;
}

export interface CallsEvents {
  /** A call rings on this device: answer() or reject() it. */
  incoming: IncomingCall;
  /** A ringing call went away: the caller gave up, or another device of this account took or refused it. */
  ringingEnded: { session: string; from: string; reason: string };
  /** Glare: our own unanswered call was dropped for the peer's, which this device answered at once. */
  glare: { replaced: Call; by: Call };
  error: { where: string; error: unknown };
}

export interface MediaOptions {
  /** What to send (default: silence). */
  audio?: AudioInput;
  /** Only TURN-relayed candidates (the server's relay, GET /_people/v1/turn). */
  relayOnly?: boolean;
  /** Signalling only: the local SDP from the application's own WebRTC stack; no media is opened here. */
  sdp?: string;
  /**
   * false: this device takes no video (no camera stack), so a video call is answered audio only,
   * its video m-line inactive (§11.3.1), and the caller is told. Default true.
   */
  video?: boolean;
}

export interface PlaceCallOptions extends MediaOptions {
  media?: CallMedia;
  /** Hang up with "timeout" when no device answered in this time (default 60 s). */
  timeoutMs?: number;
  /** Fail when answered but not connected in this time (default 30 s). */
  connectTimeoutMs?: number;
}

export interface CallsDeps {
  account: { address: PeopleAddress; device: DeviceId };
  sender: { send(m: TargetedMessage): Promise<unknown> };
  now: () => number;
  /** The WebRTC stack; absent: signalling only (every call needs `sdp`). */
  engine?: MediaEngine | undefined;
  /** ICE servers for a call: the own server's TURN relay with fresh credentials. */
  iceServers: () => Promise<IceServer[]>;
}

export function withoutExp(r: Ringing): IncomingCall {
  const { exp: _exp, ...rest } = r;
  return rest;
}
