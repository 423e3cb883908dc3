// Audio for calls without a microphone: a sine tone or looped PCM cut into
// 10 ms frames, and a Goertzel filter that tells whether a tone is in
// decoded audio (tests, the bench, `people call --tone`).

export const SAMPLE_RATE = 48_000;
/** Samples in one 10 ms frame at 48 kHz, what WebRTC audio sources take. */
export const FRAME_SAMPLES = 480;

/** Endless 10 ms mono frames of a sine tone (amplitude about a quarter of full scale). */
export function toneFrames(hz: number, amplitude = 8000): () => Int16Array {
  let n = 0;
  const step = (2 * Math.PI * hz) / SAMPLE_RATE;
  return () => {
    const frame = new Int16Array(FRAME_SAMPLES);
    for (let i = 0; i < FRAME_SAMPLES; i++) frame[i] = Math.round(amplitude * Math.sin(step * n++));
    n %= SAMPLE_RATE * 1000;
    return frame;
  };
}

/** Endless 10 ms mono frames looping over `pcm` (48 kHz mono). */
export function loopFrames(pcm: Int16Array): () => Int16Array {
  let at = 0;
  return () => {
    const frame = new Int16Array(FRAME_SAMPLES);
    if (pcm.length === 0) return frame;
    for (let i = 0; i < FRAME_SAMPLES; i++) {
      frame[i] = pcm[at]!;
      at = (at + 1) % pcm.length;
    }
    return frame;
  };
}

/** The first channel of interleaved PCM. */
export function firstChannel(samples: Int16Array, channels: number): Int16Array {
  if (channels <= 1) return samples;
  const out = new Int16Array(Math.floor(samples.length / channels));
  for (let i = 0; i < out.length; i++) out[i] = samples[i * channels]!;
  return out;
}

/** Power of `hz` in a block relative to the block's total power (0…1): Goertzel's algorithm. */
export function toneShare(block: Int16Array, hz: number, sampleRate = SAMPLE_RATE): number {
  const n = block.length;
  if (n === 0) return 0;
  // The exact frequency, not the nearest DFT bin: a 20 ms block's bins are 50 Hz apart.
  const w = (2 * Math.PI * hz) / sampleRate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (let i = 0; i < n; i++) {
    const x = block[i]! / 32768;
    energy += x * x;
    const s0 = x + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  // A pure tone filling the block has power ≈ energy · n / 2.
  return energy === 0 ? 0 : Math.min(1, (2 * power) / (n * energy));
}

/**
 * Watches decoded audio for a tone: `push` blocks as they arrive; `found`
 * turns true once `needed` consecutive 20 ms windows carry the tone.
 */
export class ToneDetector {
  found = false;
  /** Windows in which the tone was heard. */
  hits = 0;
  private window: number[] = [];
  private run = 0;

  constructor(
    readonly hz: number,
    private readonly o: { sampleRate?: number; share?: number; needed?: number } = {},
  ) {}

  push(samples: Int16Array, channels = 1): boolean {
    const mono = firstChannel(samples, channels);
    const rate = this.o.sampleRate ?? SAMPLE_RATE;
    const size = Math.round(rate / 50);
    for (const x of mono) {
      this.window.push(x);
      if (this.window.length < size) continue;
      const block = Int16Array.from(this.window);
      this.window = [];
      if (toneShare(block, this.hz, rate) >= (this.o.share ?? 0.6)) {
        this.hits++;
        if (++this.run >= (this.o.needed ?? 5)) this.found = true;
      } else this.run = 0;
    }
    return this.found;
  }
}
