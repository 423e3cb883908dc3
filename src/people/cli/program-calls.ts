// The `call` and `answer` commands of `people` (kept out of program.ts, which holds the others).
import type { Command } from "commander";
import type * as CallCmd from "./commands/call.js";
import type { Context } from "./context.js";

type Act = <M>(
  load: () => Promise<M>,
  fn: (m: M, ctx: Context, args: unknown[]) => Promise<void>,
) => (...args: unknown[]) => Promise<void>;

const MEDIA_HELP = [
  "",
  "Audio sent is a test tone (--tone 440) or a 16-bit PCM WAV file (--audio-file), else silence;",
  "video is a moving test pattern. --record x.ogg keeps the audio that arrives (Ogg Opus), --record",
  "x.webm the video and the audio (WebM: VP8 + Opus, encoded again from what was decoded). Media is",
  "encrypted end to end (DTLS-SRTP with the fingerprint the other device signed). --relay-only",
  "sends media only through your server's TURN relay, so the other side never sees your address.",
  "A video call answered audio only (the other device takes no video, `answer --no-video`) says so.",
  'With --json, prints one JSON object per line: {"event": "state" | "video_refused" | "ended", …}.',
].join("\n");

export function addCallCommands(program: Command, act: Act): void {
  // `watch` (defined with the mail commands) can take calls as they ring.
  program.commands
    .find((c) => c.name() === "watch")
    ?.option("--answer-calls", "answer every call that rings (sending --tone, else silence) and show it")
    .option("--tone <hz>", "with --answer-calls: send a sine tone of this frequency");
  const calls = () => import("./commands/call.js") as Promise<typeof CallCmd>;
  const media = (cmd: Command) =>
    cmd
      .option("--tone <hz>", "send a sine tone of this frequency")
      .option("--audio-file <file>", "send this WAV file (16-bit PCM), looped")
      .option("--record <file>", "record what arrives: x.ogg the audio (Ogg Opus), x.webm video and audio")
      .option("--duration <duration>", "hang up after talking this long (e.g. 30s)")
      .option("--relay-only", "media only through the TURN relay")
      .option("--timeout <duration>", "how long to wait for an answer, or for a call", "60s")
      .addHelpText("after", MEDIA_HELP);
  media(
    program
      .command("call")
      .description("call another People address (voice, or --video); every device of it rings")
      .argument("<address>", "whom to call")
      .option("--video", "a video call"),
  ).action(act(calls, (m, ctx, [address, opts]) => m.call(ctx, address as string, opts as CallCmd.CallOpts)));
  media(
    program
      .command("answer")
      .description("wait for a call (or take one ringing now) and answer it")
      .option("--from <address>", "only a call from this address")
      .option("--no-video", "take no video: a video call is answered audio only, and the caller is told"),
  ).action(act(calls, (m, ctx, [opts]) => m.answer(ctx, opts as CallCmd.AnswerOpts)));
}
