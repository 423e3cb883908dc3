// The WebM recorder of `people call --record x.webm`, read back by another
// implementation: mediabunny (a pure TypeScript demuxer) must find the EBML
// header, a VP8 video track of the frames' size with every frame in it, and
// an Opus audio track; the VP8 is decoded again (libav.js) and the Opus
// (opusscript), so the file plays: the moving bar is in the pictures and the
// tone in the sound.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ALL_FORMATS, BufferSource, EncodedPacketSink, Input, type InputTrack } from "mediabunny";
import fc from "fast-check";
import OpusScript from "opusscript";
import { FRAME_SAMPLES, ToneDetector, toneFrames } from "../../src/people/client/calls/audio.js";
import { WebmRecorder, type I420Frame } from "../../src/people/client/calls/webm-recorder.js";
import { recordingKind } from "../../src/people/cli/commands/call-recording.js";
import { UsageError } from "../../src/people/cli/errors.js";

const W = 320;
const H = 240;
const FPS = 30;
const SECONDS = 3;
const TONE = 660;

/** Grey with a bright 16-pixel bar at `x`. */
function frameWithBar(x: number): I420Frame {
  const data = new Uint8Array((W * H * 3) / 2).fill(128);
  for (let y = 0; y < H; y++) data.fill(235, y * W + x, y * W + x + 16);
  return { width: W, height: H, data };
}

async function packetsOf(track: InputTrack): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const p of new EncodedPacketSink(track).packets()) out.push(p.data);
  return out;
}

describe("WebM recording of a call (VP8 + Opus)", function () {
  this.timeout(120_000);
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), "webm-rec-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Records SECONDS of video and tone on a simulated clock (as a call delivers them) and returns the file. */
  async function record(name: string, o: { video: boolean; audio: boolean }): Promise<Buffer> {
    let clock = 0;
    const rec = new WebmRecorder(join(dir, name), () => clock);
    const tone = toneFrames(TONE);
    const frames = FPS * SECONDS;
    // Audio arrives in 10 ms chunks, video every 1/FPS s: interleave by time.
    for (let ms = 0; ms < SECONDS * 1000; ms += 10) {
      clock = ms;
      if (o.audio) rec.pushAudio({ samples: tone(), sampleRate: 48_000, channels: 1 });
      const n = Math.floor((ms * FPS) / 1000);
      if (o.video && n < frames && Math.floor(((ms - 10) * FPS) / 1000) < n) {
        rec.pushVideo(frameWithBar((n * 8) % (W - 16)));
        // Here the encoder is waited for; a real call drops what it cannot keep up with (counted).
        await rec.idle();
      }
    }
    await rec.close();
    assert.equal(rec.counts.dropped, 0);
    if (o.video) assert.equal(rec.counts.frames, frames);
    return readFileSync(join(dir, name));
  }

  it("writes a WebM with a VP8 track holding every frame, and an Opus track with the tone", async () => {
    const bytes = await record("call.webm", { video: true, audio: true });
    assert.deepEqual([...bytes.subarray(0, 4)], [0x1a, 0x45, 0xdf, 0xa3], "an EBML header");
    const input = new Input({ source: new BufferSource(bytes), formats: ALL_FORMATS });
    assert.equal((await input.getFormat()).name, "WebM");
    const video = await input.getPrimaryVideoTrack();
    assert.ok(video, "a video track");
    assert.equal(video.codec, "vp8");
    assert.equal(video.codedWidth, W);
    assert.equal(video.codedHeight, H);
    const vp8 = await packetsOf(video);
    assert.equal(vp8.length, FPS * SECONDS, "every frame is in the file");
    const duration = await input.computeDuration();
    assert.ok(duration > SECONDS - 0.5 && duration < SECONDS + 0.5, `about ${SECONDS} s, not ${duration}`);

    // The pictures decode, and the bar is where it was drawn (the last frame's position).
    const LibAV = await import("@libav.js/variant-webm-vp9");
    const libav = await (("default" in LibAV ? LibAV.default : LibAV) as typeof LibAV).LibAV({
      noworker: true,
      nothreads: true,
    });
    await libav.av_log_set_level(libav.AV_LOG_ERROR);
    try {
      const [, c, pkt, frame] = await libav.ff_init_decoder("libvpx");
      const decoded = await libav.ff_decode_multi(
        c,
        pkt,
        frame,
        vp8.map((data) => ({ data })),
        true,
      );
      await libav.ff_free_decoder(c, pkt, frame);
      assert.equal(decoded.length, FPS * SECONDS, "every frame decodes");
      const last = decoded.at(-1)!;
      assert.equal(last.width, W);
      const planes = last.data as Uint8Array[][] | Uint8Array;
      // libav.js gives planes as rows, or one buffer with a layout.
      const lumaAt = (x: number, y: number): number =>
        Array.isArray(planes)
          ? planes[0]![y]![x]!
          : planes[last.layout![0]!.offset + y * last.layout![0]!.stride + x]!;
      const barX = ((FPS * SECONDS - 1) * 8) % (W - 16);
      assert.ok(lumaAt(barX + 8, H / 2) > 200, "the bar is bright");
      assert.ok(Math.abs(lumaAt((barX + 100) % W, H / 2) - 128) < 24, "the rest is grey");
    } finally {
      libav.terminate();
    }

    // The sound decodes and carries the tone.
    const audio = (await input.getAudioTracks())[0];
    assert.ok(audio, "an audio track");
    assert.equal(audio.codec, "opus");
    const opus = new OpusScript(48_000, 1);
    const heard = new ToneDetector(TONE);
    let samples = 0;
    for (const p of await packetsOf(audio)) {
      const out = opus.decode(Buffer.from(p));
      const pcm = new Int16Array(out.buffer, out.byteOffset, out.length / 2);
      samples += pcm.length;
      for (let at = 0; at + FRAME_SAMPLES <= pcm.length; at += FRAME_SAMPLES)
        heard.push(pcm.subarray(at, at + FRAME_SAMPLES), 1);
    }
    opus.delete();
    assert.ok(samples > 48_000 * (SECONDS - 0.5), `${samples} samples of sound`);
    assert.ok(heard.found, `the ${TONE} Hz tone is in the recording`);
  });

  it("a call that brought no video gives an audio-only WebM", async () => {
    const bytes = await record("voice.webm", { video: false, audio: true });
    const input = new Input({ source: new BufferSource(bytes), formats: ALL_FORMATS });
    assert.equal(await input.getPrimaryVideoTrack(), null);
    const audio = (await input.getAudioTracks())[0];
    assert.equal(audio?.codec, "opus");
    assert.ok((await packetsOf(audio)).length >= 50 * (SECONDS - 1), "Opus packets of seconds");
  });

  it("audio that starts after the first frame has its track too", async () => {
    let clock = 0;
    const rec = new WebmRecorder(join(dir, "late-audio.webm"), () => clock);
    const tone = toneFrames(TONE);
    for (let n = 0; n < 30; n++) {
      clock = (n * 1000) / FPS;
      rec.pushVideo(frameWithBar(n * 8));
      if (n >= 10)
        for (let k = 0; k < 4; k++) rec.pushAudio({ samples: tone(), sampleRate: 48_000, channels: 1 });
      await rec.idle();
    }
    await rec.close();
    const input = new Input({
      source: new BufferSource(readFileSync(join(dir, "late-audio.webm"))),
      formats: ALL_FORMATS,
    });
    assert.equal((await input.getPrimaryVideoTrack())?.codec, "vp8");
    const audio = (await input.getAudioTracks())[0];
    assert.equal(audio?.codec, "opus");
    assert.ok((await packetsOf(audio)).length >= 30, "the late audio is in its track");
  });

  it("a recording that received nothing fails on close with a clear error", async () => {
    const rec = new WebmRecorder(join(dir, "empty.webm"));
    await assert.rejects(rec.close(), /nothing arrived to record/);
  });
});

describe("--record's file name (people call / answer)", () => {
  it("names .ogg for the audio and .webm for video and audio, whatever the case; refuses any other name", () => {
    const stem = fc.string({ minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(stem, fc.constantFrom(".ogg", ".OGG", ".webm", ".WebM"), (name, ext) => {
        assert.equal(recordingKind(name + ext), ext.toLowerCase() === ".ogg" ? "ogg" : "webm");
      }),
    );
    fc.assert(
      fc.property(stem, (name) => {
        fc.pre(!/\.(ogg|webm)$/i.test(name));
        assert.throws(() => recordingKind(name), UsageError);
      }),
    );
  });
});
