// Carries a bridged call's media between its two legs: the MatrixRTC leg (rtc-node, LiveKit) and
// the People leg (libwebrtc, DTLS-SRTP to Joe's device). Both stacks hand out decoded media and
// take raw media, so the relay copies PCM and I420 frames (no Opus/VP8 pass-through: see
// docs/ARCHITECTURE.md, "MatrixRTC calls"). The People leg takes the relay as its live input.
import type { Emitter } from "../../../people/client/emitter.js";
import { firstChannel, SAMPLE_RATE } from "../../../people/client/calls/audio.js";
import type { LiveInput, LiveSink, MediaPeerEvents } from "../../../people/client/calls/media-engine.js";
import type { LegVideoFrame } from "./livekit-leg.js";

/** The part of the MatrixRTC leg the relay uses (LivekitLeg). */
export interface RtcLegMedia {
  on(event: "audio", h: (identity: string, pcm: Int16Array, sampleRate: number) => void): void;
  on(event: "video", h: (identity: string, frame: LegVideoFrame) => void): void;
  sendPcm(pcm: Int16Array): Promise<void>;
  sendVideo(frame: LegVideoFrame): void;
}

export interface RelayCounts {
  /** Audio frames and video frames carried each way. */
  toPeople: { audio: number; video: number };
  toMatrix: { audio: number; video: number };
}

/** Mono PCM at another rate brought to 48 kHz (linear: what WebRTC hands out is 48 kHz anyway). */
export function to48k(pcm: Int16Array, sampleRate: number): Int16Array {
  if (sampleRate === SAMPLE_RATE || pcm.length === 0) return pcm;
  const n = Math.round((pcm.length * SAMPLE_RATE) / sampleRate);
  const out = new Int16Array(n);
  const step = sampleRate / SAMPLE_RATE;
  for (let i = 0; i < n; i++) {
    const x = i * step;
    const j = Math.floor(x);
    const a = pcm[Math.min(j, pcm.length - 1)]!;
    const b = pcm[Math.min(j + 1, pcm.length - 1)]!;
    out[i] = Math.round(a + (b - a) * (x - j));
  }
  return out;
}

export class MediaRelay implements LiveInput {
  readonly counts: RelayCounts = { toPeople: { audio: 0, video: 0 }, toMatrix: { audio: 0, video: 0 } };
  private sink: LiveSink | undefined;
  private closed = false;
  private readonly offs: (() => void)[] = [];

  /** `from`: the LiveKit identity whose media goes to People (the Matrix user's call device). */
  constructor(
    private readonly rtc: RtcLegMedia,
    private readonly from: () => string | undefined,
  ) {
    rtc.on("audio", (identity, pcm, rate) => {
      if (this.closed || !this.sink || identity !== this.from()) return;
      this.counts.toPeople.audio++;
      this.sink.audio(to48k(pcm, rate));
    });
    rtc.on("video", (identity, frame) => {
      if (this.closed || !this.sink || identity !== this.from()) return;
      this.counts.toPeople.video++;
      this.sink.video(frame);
    });
  }

  /** The People leg's engine hands its sources over here (LiveInput). */
  attach(sink: LiveSink): void {
    this.sink = sink;
  }

  /** What the People leg receives goes to the MatrixRTC leg. */
  fromPeople(events: Emitter<MediaPeerEvents>): void {
    this.offs.push(
      events.on("audio", (a) => {
        if (this.closed) return;
        this.counts.toMatrix.audio++;
        const mono = to48k(firstChannel(a.samples, a.channels), a.sampleRate);
        void this.rtc.sendPcm(mono).catch(() => undefined);
      }),
      events.on("video", (v) => {
        if (this.closed || !v.data) return;
        this.counts.toMatrix.video++;
        this.rtc.sendVideo({ width: v.width, height: v.height, data: v.data });
      }),
    );
  }

  close(): void {
    this.closed = true;
    for (const off of this.offs) off();
  }
}
