// Reading a WAV file (16-bit PCM, any channel count and rate) as the mono
// 48 kHz samples a call sends (`people call --audio-file`).
import { PeopleError } from "../../errors.js";
import { SAMPLE_RATE } from "./audio.js";

export function readWav(file: Buffer): Int16Array {
  const bad = (why: string) => new PeopleError("PEOPLE_BAD_REQUEST", `not a usable WAV file: ${why}`);
  if (file.length < 12 || file.toString("ascii", 0, 4) !== "RIFF" || file.toString("ascii", 8, 12) !== "WAVE")
    throw bad("no RIFF/WAVE header");
  let at = 12;
  let format: { channels: number; rate: number; bits: number; tag: number } | undefined;
  while (at + 8 <= file.length) {
    const id = file.toString("ascii", at, at + 4);
    const size = file.readUInt32LE(at + 4);
    const body = file.subarray(at + 8, Math.min(file.length, at + 8 + size));
    if (id === "fmt ") {
      if (body.length < 16) throw bad("short fmt chunk");
      format = {
        tag: body.readUInt16LE(0),
        channels: body.readUInt16LE(2),
        rate: body.readUInt32LE(4),
        bits: body.readUInt16LE(14),
      };
    } else if (id === "data") {
      if (!format) throw bad("data before fmt");
      if ((format.tag !== 1 && format.tag !== 0xfffe) || format.bits !== 16) throw bad("only 16-bit PCM");
      if (format.channels < 1 || format.rate < 8000 || format.rate > 192_000)
        throw bad("odd channels or rate");
      const frames = Math.floor(body.length / (2 * format.channels));
      const mono = new Float64Array(frames);
      for (let i = 0; i < frames; i++) mono[i] = body.readInt16LE(i * 2 * format.channels);
      return resample(mono, format.rate);
    }
    at += 8 + size + (size % 2);
  }
  throw bad("no data chunk");
}

/** Linear interpolation to 48 kHz: enough for test tones and speech. */
function resample(input: Float64Array, rate: number): Int16Array {
  if (rate === SAMPLE_RATE) return Int16Array.from(input, (x) => Math.round(x));
  const out = new Int16Array(Math.floor((input.length * SAMPLE_RATE) / rate));
  for (let i = 0; i < out.length; i++) {
    const pos = (i * rate) / SAMPLE_RATE;
    const j = Math.floor(pos);
    const a = input[j] ?? 0;
    const b = input[j + 1] ?? a;
    out[i] = Math.round(a + (b - a) * (pos - j));
  }
  return out;
}
