// Recording what a call receives as a WebM file any player opens: the
// decoded I420 frames (wrtc's RTCVideoSink gives no encoded ones) are
// encoded again to VP8 and the 48 kHz mono audio to Opus, both by libav.js
// (ffmpeg's libvpx and libopus compiled to WebAssembly), and muxed by its
// Matroska/WebM muxer straight into the file. The file has an audio track
// always, and a video track once a first frame gives its size: audio waits
// for that frame (up to 30 s, then the file is audio only), and a call with no
// video at all gives an audio-only WebM on close.
import { closeSync, openSync, writeSync } from "node:fs";
import type { DecodedAudio } from "./media-engine.js";

type LibAVModule = typeof import("@libav.js/variant-webm-vp9");
type LibAV = Awaited<ReturnType<LibAVModule["LibAV"]>>;
type Frame = import("@libav.js/variant-webm-vp9").Frame;
type Packet = import("@libav.js/variant-webm-vp9").Packet;

export interface I420Frame {
  width: number;
  height: number;
  /** Y, then U, then V planes, tightly packed. */
  data: Uint8Array;
}

const SAMPLE_RATE = 48_000;
const MONO = 4; // AV_CH_LAYOUT_MONO
const VIDEO_BITRATE = 800_000;
const AUDIO_BITRATE = 48_000;
/** Frames waiting for the encoder beyond this (some seconds) are dropped on a slow machine, not queued forever. */
const MAX_PENDING_FRAMES = 90;
/** Audio kept before the first video frame opens the file (30 s, 2.9 MB). */
const MAX_EARLY_SAMPLES = 30 * SAMPLE_RATE;

interface Encoder {
  ctx: number;
  frame: number;
  pkt: number;
  stream: number;
  /** The encoder's clock (1/n s): the muxer rescales from it to the track's. */
  rate: number;
}

export class WebmRecorder {
  private libav: LibAV | undefined;
  private readonly fd: number;
  private readonly t0: number;
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private mux: { oc: number; pb: number; pkt: number } | undefined;
  private video: (Encoder & { width: number; height: number }) | undefined;
  private audio: (Encoder & { frameSize: number }) | undefined;
  private audioStartMs: number | undefined;
  private audioSamples = 0;
  private early: Int16Array[] = [];
  private earlyCount = 0;
  private leftover = new Int16Array(0);
  private failed: Error | undefined;
  private closed = false;
  /** Video frames written, and those dropped (another size, or the encoder behind). */
  readonly counts = { frames: 0, dropped: 0 };

  constructor(
    readonly path: string,
    /** Milliseconds, for the tracks' timestamps (a test gives its own clock). */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.t0 = now();
    this.fd = openSync(path, "wx"); // never over a file that is there, as the Ogg recorder
    // Loading the wasm takes a while: start now, so the first frames do not wait for it.
    this.run(async () => undefined);
  }

  /** A decoded frame of the far side's video. */
  pushVideo(f: I420Frame): void {
    if (this.closed || this.failed) return;
    if (
      this.pending >= MAX_PENDING_FRAMES ||
      (this.video && (f.width !== this.video.width || f.height !== this.video.height))
    ) {
      this.counts.dropped++;
      return;
    }
    const at = Math.round(this.now() - this.t0);
    const data = new Uint8Array(f.data); // the sink reuses its buffer
    this.pending++;
    this.run(async (libav) => {
      this.pending--;
      if (!this.mux) await this.open(libav, f);
      const v = this.video;
      if (!v) {
        this.counts.dropped++; // the file was opened audio only
        return;
      }
      const w = f.width;
      const h = f.height;
      const frame: Frame = {
        data,
        format: libav.AV_PIX_FMT_YUV420P,
        width: w,
        height: h,
        pts: at,
        layout: [
          { offset: 0, stride: w },
          { offset: w * h, stride: w >> 1 },
          { offset: w * h + (w >> 1) * (h >> 1), stride: w >> 1 },
        ],
      };
      await this.write(libav, v, await libav.ff_encode_multi(v.ctx, v.frame, v.pkt, [frame]));
      this.counts.frames++;
    });
  }

  /** Decoded audio of the far side (its first channel is kept, at 48 kHz). */
  pushAudio(a: DecodedAudio): void {
    if (this.closed || this.failed || a.sampleRate !== SAMPLE_RATE) return;
    const mono = new Int16Array(Math.floor(a.samples.length / a.channels));
    for (let i = 0; i < mono.length; i++) mono[i] = a.samples[i * a.channels]!;
    this.audioStartMs ??= this.now() - this.t0;
    if (!this.mux) {
      this.early.push(mono);
      this.earlyCount += mono.length;
      // No video for that long: an audio-only file (later frames are counted as dropped).
      if (this.earlyCount >= MAX_EARLY_SAMPLES)
        this.run((libav) => (this.mux ? Promise.resolve() : this.open(libav, undefined)));
      return;
    }
    this.run((libav) => this.encodeAudio(libav, mono));
  }

  /** Resolves once what was pushed so far is encoded and written. */
  idle(): Promise<void> {
    return this.chain;
  }

  /** Flushes the encoders, writes the cues and closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.run(async (libav) => {
      if (!this.mux) await this.open(libav, undefined);
      for (const e of [this.video, this.audio])
        if (e) await this.write(libav, e, await libav.ff_encode_multi(e.ctx, e.frame, e.pkt, [], true));
      const m = this.mux!;
      await libav.av_write_trailer(m.oc);
      await libav.ff_free_muxer(m.oc, m.pb);
    });
    await this.chain;
    this.libav?.terminate();
    closeSync(this.fd);
    if (this.failed) throw this.failed;
  }

  private run(step: (libav: LibAV) => Promise<void>): void {
    this.chain = this.chain.then(async () => {
      if (this.failed) return;
      try {
        await step(await this.load());
      } catch (e) {
        this.failed = e instanceof Error ? e : new Error(String(e));
      }
    });
  }

  private async load(): Promise<LibAV> {
    if (this.libav) return this.libav;
    const mod = (await import("@libav.js/variant-webm-vp9")) as LibAVModule & { default?: LibAVModule };
    const libav = await (mod.default ?? mod).LibAV({ noworker: true, nothreads: true });
    await libav.av_log_set_level(libav.AV_LOG_ERROR);
    // The muxer writes (and seeks back to fix sizes and cues) through this device.
    libav.onwrite = (_name, position, buffer) => void writeSync(this.fd, buffer, 0, buffer.length, position);
    this.libav = libav;
    return libav;
  }

  private async open(libav: LibAV, first: I420Frame | undefined): Promise<void> {
    if (!first && this.audioStartMs === undefined) throw new Error("nothing arrived to record");
    const streams: [number, number, number][] = [];
    if (first) {
      const [, ctx, frame, pkt] = await libav.ff_init_encoder("libvpx", {
        ctx: {
          bit_rate: VIDEO_BITRATE,
          pix_fmt: libav.AV_PIX_FMT_YUV420P,
          width: first.width,
          height: first.height,
          gop_size: 60,
        },
        time_base: [1, 1000],
        options: { deadline: "realtime", "cpu-used": "8", "lag-in-frames": "0" },
      });
      this.video = {
        ctx,
        frame,
        pkt,
        stream: streams.length,
        rate: 1000,
        width: first.width,
        height: first.height,
      };
      streams.push([ctx, 1, 1000]);
    }
    {
      const [, ctx, frame, pkt, frameSize] = await libav.ff_init_encoder("libopus", {
        ctx: {
          bit_rate: AUDIO_BITRATE,
          sample_fmt: libav.AV_SAMPLE_FMT_S16,
          sample_rate: SAMPLE_RATE,
          channel_layout: MONO,
          channels: 1,
        },
        time_base: [1, SAMPLE_RATE],
      });
      this.audio = { ctx, frame, pkt, stream: streams.length, rate: SAMPLE_RATE, frameSize };
      streams.push([ctx, 1, SAMPLE_RATE]);
    }
    await libav.mkwriterdev("call.webm");
    const [oc, , pb] = await libav.ff_init_muxer(
      { format_name: "webm", filename: "call.webm", open: true },
      streams,
    );
    const pkt = await libav.av_packet_alloc();
    this.mux = { oc, pb, pkt };
    await libav.avformat_write_header(oc, 0);
    const early = this.early;
    this.early = [];
    for (const chunk of early) await this.encodeAudio(libav, chunk);
  }

  /** Opus takes whole frames (20 ms): what does not fill one waits for the next chunk. */
  private async encodeAudio(libav: LibAV, mono: Int16Array): Promise<void> {
    const a = this.audio;
    if (!a) return;
    const all = new Int16Array(this.leftover.length + mono.length);
    all.set(this.leftover);
    all.set(mono, this.leftover.length);
    const frames: Frame[] = [];
    let at = 0;
    for (; at + a.frameSize <= all.length; at += a.frameSize) {
      frames.push({
        data: all.slice(at, at + a.frameSize),
        format: libav.AV_SAMPLE_FMT_S16,
        sample_rate: SAMPLE_RATE,
        channel_layout: MONO,
        channels: 1,
        nb_samples: a.frameSize,
        pts: Math.round(((this.audioStartMs ?? 0) * SAMPLE_RATE) / 1000) + this.audioSamples,
      });
      this.audioSamples += a.frameSize;
    }
    this.leftover = all.slice(at);
    if (frames.length > 0)
      await this.write(libav, a, await libav.ff_encode_multi(a.ctx, a.frame, a.pkt, frames));
  }

  private async write(libav: LibAV, e: Encoder, packets: Packet[]): Promise<void> {
    if (packets.length === 0 || !this.mux) return;
    for (const p of packets) {
      p.stream_index = e.stream;
      p.time_base_num = 1;
      p.time_base_den = e.rate;
    }
    await libav.ff_write_multi(this.mux.oc, this.mux.pkt, packets);
  }
}
