// The media engine on libwebrtc (@roamhq/wrtc, M106: Opus, VP8, DTLS-SRTP,
// ICE with TURN). Audio is a tone, looped PCM or silence pushed in 10 ms
// frames; video a moving test pattern; or both pushed live by the application
// (the bridge relaying a MatrixRTC call); what arrives is decoded and handed on.
// libwebrtc checks the peer's DTLS certificate against the remote SDP's
// a=fingerprint and fails the connection otherwise; call.ts checks again,
// after connecting, against the signed fingerprint (getStats).
import { createRequire } from "node:module";
import { PeopleError } from "../../errors.js";
import { Emitter } from "../emitter.js";
import { FRAME_SAMPLES, SAMPLE_RATE, loopFrames, toneFrames } from "./audio.js";
import type { WrtcModule, WrtcPeerConnection, WrtcStats } from "./wrtc-types.js";
import type {
  I420Frame,
  IceCandidate,
  LiveInput,
  MediaEngine,
  MediaPeer,
  MediaPeerEvents,
  PeerOptions,
  PeerState,
} from "./media-engine.js";

const VIDEO_WIDTH = 320;
const VIDEO_HEIGHT = 240;
const VIDEO_FPS = 15;

let loaded: WrtcModule | undefined;
function wrtc(): WrtcModule {
  // Loaded on first use: a native module the bridge and the server never need.
  loaded ??= createRequire(__filename)("@roamhq/wrtc") as WrtcModule;
  return loaded;
}

export const wrtcEngine: MediaEngine = { createPeer: (o) => new WrtcPeer(o) };

class WrtcPeer implements MediaPeer {
  readonly events = new Emitter<MediaPeerEvents>();
  private readonly pc: WrtcPeerConnection;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly stops: (() => void)[] = [];
  private closed = false;
  private tracksAdded = false;
  private abort: (e: Error) => void = () => undefined;
  /** Rejects on close: libwebrtc leaves a pending operation's promise unsettled when the connection closes. */
  private readonly closing = new Promise<never>((_, reject) => (this.abort = reject));

  constructor(private readonly o: PeerOptions) {
    const w = wrtc();
    this.pc = new w.RTCPeerConnection({
      iceServers: o.iceServers.map((s) => ({
        urls: s.urls,
        ...(s.username !== undefined ? { username: s.username } : {}),
        ...(s.credential !== undefined ? { credential: s.credential } : {}),
      })),
      iceTransportPolicy: o.relayOnly ? "relay" : "all",
    });
    this.pc.onicecandidate = (e) => {
      if (this.closed) return;
      const c = e.candidate;
      this.events.emit(
        "candidate",
        c && c.candidate
          ? {
              candidate: c.candidate,
              ...(c.sdpMid != null ? { mid: c.sdpMid } : {}),
              ...(c.sdpMLineIndex != null ? { index: c.sdpMLineIndex } : {}),
            }
          : null,
      );
    };
    this.pc.onconnectionstatechange = () => {
      const s = this.pc.connectionState;
      const state: PeerState | undefined =
        s === "connected"
          ? "connected"
          : s === "failed"
            ? "failed"
            : s === "connecting"
              ? "connecting"
              : undefined;
      if (state && !this.closed) this.events.emit("state", state);
    };
    this.pc.ontrack = (e) => this.receive(e.track);
    this.closing.catch(() => undefined);
  }

  private guard<T>(p: Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(closedError());
    return Promise.race([p, this.closing]);
  }

  async createOffer(): Promise<string> {
    this.addTracks();
    const offer = await this.guard(this.pc.createOffer());
    await this.guard(this.pc.setLocalDescription(offer));
    return this.pc.localDescription?.sdp ?? offer.sdp;
  }

  async acceptOffer(sdp: string): Promise<string> {
    await this.guard(this.pc.setRemoteDescription({ type: "offer", sdp }));
    // A voice peer answering a video offer takes no video: its m-line is answered inactive.
    if (this.o.media === "voice")
      for (const t of this.pc.getTransceivers()) if (t.receiver.track.kind === "video") t.stop();
    this.addTracks();
    const answer = await this.guard(this.pc.createAnswer());
    await this.guard(this.pc.setLocalDescription(answer));
    return this.pc.localDescription?.sdp ?? answer.sdp;
  }

  async acceptAnswer(sdp: string): Promise<void> {
    await this.guard(this.pc.setRemoteDescription({ type: "answer", sdp }));
  }

  async addCandidate(c: IceCandidate): Promise<void> {
    if (c.candidate === "") return; // the end of candidates: nothing to add in M106
    await this.guard(
      this.pc.addIceCandidate({
        candidate: c.candidate,
        sdpMid: c.mid ?? null,
        sdpMLineIndex: c.index ?? null,
      }),
    );
  }

  async remoteCertificateFingerprint(): Promise<string | undefined> {
    const stats: WrtcStats = await this.guard(this.pc.getStats());
    const all = [...stats.values()];
    const transport = all.find((r) => r.type === "transport" && r.remoteCertificateId);
    const cert = all.find((r) => r.type === "certificate" && r.id === transport?.remoteCertificateId);
    if (!cert?.fingerprint || !cert.fingerprintAlgorithm) return undefined;
    return `${cert.fingerprintAlgorithm} ${cert.fingerprint}`;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.abort(closedError());
    for (const t of this.timers) clearInterval(t);
    for (const stop of this.stops) stop();
    this.pc.close();
    this.events.emit("state", "closed");
  }

  private addTracks(): void {
    if (this.tracksAdded) return;
    this.tracksAdded = true;
    const w = wrtc();
    // One stream for both tracks (a=msid): browsers hand streamless tracks to no stream, and
    // matrix-js-sdk (Element) ignores those and refuses an offer whose tracks have none.
    const stream = new w.MediaStream();
    const audio = new w.nonstandard.RTCAudioSource();
    this.pc.addTrack(audio.createTrack(), stream);
    const video = this.o.media === "video" ? new w.nonstandard.RTCVideoSource() : undefined;
    if (video) this.pc.addTrack(video.createTrack(), stream);
    const sendAudio = (samples: Int16Array) =>
      audio.onData({
        samples,
        sampleRate: SAMPLE_RATE,
        bitsPerSample: 16,
        channelCount: 1,
        numberOfFrames: FRAME_SAMPLES,
      });
    if (this.o.live) {
      this.attachLive(this.o.live, sendAudio, video);
      return;
    }
    const next =
      "tone" in this.o.audio
        ? toneFrames(this.o.audio.tone)
        : "pcm" in this.o.audio
          ? loopFrames(this.o.audio.pcm)
          : () => new Int16Array(FRAME_SAMPLES);
    this.pump(10, (k) => {
      for (let i = 0; i < k; i++) sendAudio(next());
    });
    if (!video) return;
    let frame = 0;
    this.pump(1000 / VIDEO_FPS, () => video.onFrame(testPattern(frame++)));
  }

  /** Live media goes out as it is pushed: PCM cut into the 10 ms frames libwebrtc takes. */
  private attachLive(
    live: LiveInput,
    sendAudio: (samples: Int16Array) => void,
    video: { onFrame(f: I420Frame): void } | undefined,
  ): void {
    let pending = new Int16Array(0);
    live.attach({
      audio: (pcm) => {
        if (this.closed) return;
        const all = new Int16Array(pending.length + pcm.length);
        all.set(pending);
        all.set(pcm, pending.length);
        let at = 0;
        for (; at + FRAME_SAMPLES <= all.length; at += FRAME_SAMPLES)
          sendAudio(all.slice(at, at + FRAME_SAMPLES));
        pending = all.slice(at);
      },
      video: (frame) => {
        // An odd size or a short buffer is not I420: dropped rather than crash libwebrtc.
        const ok =
          frame.width > 0 &&
          frame.height > 0 &&
          frame.width % 2 === 0 &&
          frame.height % 2 === 0 &&
          frame.data.length === (frame.width * frame.height * 3) / 2;
        if (!this.closed && ok) video?.onFrame(frame);
      },
    });
  }

  /** Call `fn(k)` with how many periods passed, so a busy event loop catches up instead of drifting. */
  private pump(periodMs: number, fn: (k: number) => void): void {
    const start = performance.now();
    let done = 0;
    const t = setInterval(() => {
      const due = Math.min(Math.floor((performance.now() - start) / periodMs) - done, 20);
      if (due <= 0) return;
      done += due;
      fn(due);
    }, periodMs);
    t.unref();
    this.timers.push(t);
  }

  private receive(track: { kind: string }): void {
    const w = wrtc();
    if (track.kind === "audio") {
      const sink = new w.nonstandard.RTCAudioSink(track);
      sink.ondata = (d) => {
        if (!this.closed)
          this.events.emit("audio", {
            samples: d.samples,
            sampleRate: d.sampleRate,
            channels: d.channelCount ?? 1,
          });
      };
      this.stops.push(() => sink.stop());
    } else if (track.kind === "video") {
      const sink = new w.nonstandard.RTCVideoSink(track);
      sink.onframe = (e) => {
        const f = e.frame;
        if (!this.closed) this.events.emit("video", { width: f.width, height: f.height, data: f.data });
      };
      this.stops.push(() => sink.stop());
    }
  }
}

/** An I420 frame: grey with a bright bar that moves, so the encoder has something to send. */
function testPattern(n: number): I420Frame {
  const w = VIDEO_WIDTH;
  const h = VIDEO_HEIGHT;
  const data = new Uint8Array((w * h * 3) / 2).fill(128);
  const x0 = (n * 8) % w;
  for (let y = 0; y < h; y++) data.fill(235, y * w + x0, y * w + Math.min(w, x0 + 16));
  return { width: w, height: h, data };
}

function closedError(): PeopleError {
  return new PeopleError("PEOPLE_BAD_REQUEST", "the call's connection is closed");
}

export function assertWrtcLoads(): void {
  try {
    wrtc();
  } catch (cause) {
    throw new PeopleError("PEOPLE_INTERNAL", "the WebRTC stack (@roamhq/wrtc) does not load here", { cause });
  }
}
