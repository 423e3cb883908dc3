// The part of @roamhq/wrtc's API the engine uses, typed here: the package's
// own declarations name DOM types this Node project does not load.

export interface WrtcIceCandidateInit {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
}

export interface WrtcTrack {
  kind: string;
}

export interface WrtcStatsReport {
  id: string;
  type: string;
  remoteCertificateId?: string;
  fingerprint?: string;
  fingerprintAlgorithm?: string;
}
export type WrtcStats = Map<string, WrtcStatsReport>;

export interface WrtcPeerConnection {
  onicecandidate: ((e: { candidate: (WrtcIceCandidateInit & { candidate: string }) | null }) => void) | null;
  onconnectionstatechange: (() => void) | null;
  ontrack: ((e: { track: WrtcTrack }) => void) | null;
  readonly connectionState: string;
  readonly iceConnectionState: string;
  readonly localDescription: { type: string; sdp: string } | null;
  createOffer(): Promise<{ type: string; sdp: string }>;
  createAnswer(): Promise<{ type: string; sdp: string }>;
  setLocalDescription(d: { type: string; sdp: string }): Promise<void>;
  setRemoteDescription(d: { type: "offer" | "answer"; sdp: string }): Promise<void>;
  addIceCandidate(c: WrtcIceCandidateInit): Promise<void>;
  addTrack(track: WrtcTrack, stream: WrtcMediaStream): unknown;
  getStats(): Promise<WrtcStats>;
  getTransceivers(): { receiver: { track: WrtcTrack }; stop(): void }[];
  close(): void;
}

/** A media stream: the tracks added with it share its id in the SDP (a=msid). */
export type WrtcMediaStream = object;

export interface WrtcModule {
  MediaStream: new () => WrtcMediaStream;
  RTCPeerConnection: new (config: {
    iceServers: { urls: string[]; username?: string; credential?: string }[];
    iceTransportPolicy: "all" | "relay";
  }) => WrtcPeerConnection;
  nonstandard: {
    RTCAudioSource: new () => {
      createTrack(): WrtcTrack;
      onData(d: {
        samples: Int16Array;
        sampleRate: number;
        bitsPerSample: number;
        channelCount: number;
        numberOfFrames: number;
      }): void;
    };
    RTCAudioSink: new (track: WrtcTrack) => {
      ondata: ((d: { samples: Int16Array; sampleRate: number; channelCount?: number }) => void) | null;
      stop(): void;
    };
    RTCVideoSource: new () => {
      createTrack(): WrtcTrack;
      onFrame(f: { width: number; height: number; data: Uint8Array }): void;
    };
    RTCVideoSink: new (track: WrtcTrack) => {
      onframe: ((e: { frame: { width: number; height: number; data: Uint8Array } }) => void) | null;
      stop(): void;
    };
  };
}
