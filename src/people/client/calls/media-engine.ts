// What a call needs from a WebRTC stack, so the signalling (calls.ts,
// call.ts) does not depend on one: the People CLI plugs in libwebrtc
// (wrtc-engine.ts); a client without media, such as the bridge passing an
// Element client's SDP through, runs calls in signalling-only mode and plugs
// in nothing.
import type { IceCandidate } from "../../protocol/messages.js";
import type { Emitter } from "../emitter.js";

export type { IceCandidate } from "../../protocol/messages.js";

export type CallMedia = "voice" | "video";

export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** What a call sends: a test tone, PCM read from a file, or nothing; video is a moving test pattern. */
export type AudioInput = { tone: number } | { pcm: Int16Array; sampleRate: number } | { silence: true };

export interface PeerOptions {
  media: CallMedia;
  iceServers: IceServer[];
  /** Only relayed (TURN) candidates: the peers never learn each other's IP address. */
  relayOnly: boolean;
  audio: AudioInput;
}

export type PeerState = "new" | "connecting" | "connected" | "failed" | "closed";

export interface DecodedAudio {
  /** Interleaved 16-bit PCM. */
  samples: Int16Array;
  sampleRate: number;
  channels: number;
}

export interface MediaPeerEvents {
  /** A local candidate to trickle; null when gathering is complete. */
  candidate: IceCandidate | null;
  state: PeerState;
  /** Decoded audio from the peer, as it arrives. */
  audio: DecodedAudio;
  /** A decoded video frame from the peer: I420 (Y, U, V planes packed) when the stack gives it. */
  video: { width: number; height: number; data?: Uint8Array };
}

export interface MediaPeer {
  readonly events: Emitter<MediaPeerEvents>;
  /** Caller: the local SDP offer (set as the local description). */
  createOffer(): Promise<string>;
  /** Callee: take the remote offer and return the local SDP answer. */
  acceptOffer(sdp: string): Promise<string>;
  /** Caller: take the remote answer. */
  acceptAnswer(sdp: string): Promise<void>;
  addCandidate(c: IceCandidate): Promise<void>;
  /** "sha-256 AB:…" of the certificate the peer presented in DTLS, once connected. */
  remoteCertificateFingerprint(): Promise<string | undefined>;
  close(): void;
}

export interface MediaEngine {
  createPeer(o: PeerOptions): MediaPeer;
}
