// `--record <file>` of `people call` / `people answer`: what arrives, written to
// a file a person can play. The name says which: .ogg keeps the audio (Ogg
// Opus), .webm the video and the audio (VP8 + Opus in WebM, see
// webm-recorder.ts). The encoders load only when a recording is asked for.
import type { Call } from "../../client/calls/calls.js";
import { firstChannel } from "../../client/calls/audio.js";
import { UsageError } from "../errors.js";

export type RecordingKind = "ogg" | "webm";

/** The kind a `--record` file name asks for, or a usage error. */
export function recordingKind(path: string): RecordingKind {
  // Not extname: it sees no extension in a file named ".ogg".
  const ext = /\.(ogg|webm)$/i.exec(path)?.[1]?.toLowerCase();
  if (ext === "ogg" || ext === "webm") return ext;
  throw new UsageError(
    "--record",
    "name a .ogg file (the audio that arrives, Ogg Opus) or a .webm file (video and audio, VP8 + Opus)",
  );
}

export interface Recording {
  /** Stops listening, finishes the file, and says what is in it. */
  close(): Promise<string>;
}

/** Records `c`'s incoming media to `path` until close(). */
export async function startRecording(c: Call, path: string): Promise<Recording> {
  if (recordingKind(path) === "ogg") {
    const { OggOpusWriter } = await import("../../client/calls/ogg-opus.js");
    const ogg = new OggOpusWriter(path);
    const off = c.on("audio", (a) => ogg.push(firstChannel(a.samples, a.channels)));
    return {
      close: async () => {
        off();
        ogg.close();
        return `Recorded the audio that arrived to ${path}.`;
      },
    };
  }
  const { WebmRecorder } = await import("../../client/calls/webm-recorder.js");
  const webm = new WebmRecorder(path);
  const offAudio = c.on("audio", (a) => webm.pushAudio(a));
  const offVideo = c.on(
    "video",
    (v) => v.data && webm.pushVideo({ width: v.width, height: v.height, data: v.data }),
  );
  return {
    close: async () => {
      offAudio();
      offVideo();
      await webm.close();
      const { frames, dropped } = webm.counts;
      const skipped =
        dropped > 0 ? ` (${dropped} skipped: the encoder fell behind, or the size changed)` : "";
      return `Recorded what arrived to ${path}: ${frames} video frames${skipped} and the audio (WebM, VP8 + Opus).`;
    },
  };
}
