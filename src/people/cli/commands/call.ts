// call / answer: a voice or video call with another People device. What is
// sent is a test tone or a WAV file (no microphone or camera stack here;
// video is a moving test pattern); what arrives can be recorded to an Ogg
// Opus file, or with the video to a WebM file (call-recording.ts). The call shows its state changes and, at the end, its duration.
// It ends after --duration, on Ctrl-C or SIGTERM, or when the other side
// hangs up.
import { readFileSync } from "node:fs";
import type { PeopleClient } from "../../client/people-client.js";
import type { Call, IncomingCall } from "../../client/calls/calls.js";
import type { AudioInput } from "../../client/calls/media-engine.js";
import { readWav } from "../../client/calls/wav.js";
import { addressArg, type Context } from "../context.js";
import { CliError, UsageError, about } from "../errors.js";
import { parseDuration } from "../parse.js";
import { recordingKind, startRecording } from "./call-recording.js";
import { untilSignal } from "../signals.js";

export interface MediaOpts {
  tone?: string;
  audioFile?: string;
  record?: string;
  duration?: string;
  relayOnly?: boolean;
  timeout: string;
}
export interface CallOpts extends MediaOpts {
  video?: boolean;
}
export interface AnswerOpts extends MediaOpts {
  from?: string;
  /** false (`--no-video`): this device takes no video; a video call is answered audio only. */
  video?: boolean;
}

/** Time for the hangup to leave the outbox. */
const FLUSH_MS = 10_000;

export async function call(ctx: Context, input: string, opts: CallOpts): Promise<void> {
  const address = addressArg(input);
  const o = mediaOptions(opts);
  await inCall(ctx, opts, async (client) => {
    ctx.out.note(`Calling ${address}${opts.video ? " (video)" : ""}… (Ctrl-C to stop)`);
    return about(address, () =>
      client.calls.call(address, {
        media: opts.video ? "video" : "voice",
        timeoutMs: o.timeoutMs,
        audio: o.audio,
        ...(opts.relayOnly ? { relayOnly: true } : {}),
      }),
    );
  });
}

export async function answer(ctx: Context, opts: AnswerOpts): Promise<void> {
  const from = opts.from !== undefined ? addressArg(opts.from) : undefined;
  const o = mediaOptions(opts);
  await inCall(ctx, opts, async (client) => {
    ctx.out.note(`Waiting for a call${from ? ` from ${from}` : ""}… (Ctrl-C to stop)`);
    const wanted = (c: IncomingCall) => from === undefined || c.from === from;
    let off: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      const ring =
        client.calls.incoming().find(wanted) ??
        (await new Promise<IncomingCall>((resolve, reject) => {
          off = client.calls.on("incoming", (c) => wanted(c) && resolve(c));
          timer = setTimeout(() => reject(new CliError(from, "no call came")), o.timeoutMs);
        }));
      ctx.out.note(`Answering the ${ring.media} call from ${ring.from}…`);
      return await about(ring.from, () =>
        client.calls.answer(ring.session, {
          audio: o.audio,
          ...(opts.relayOnly ? { relayOnly: true } : {}),
          ...(opts.video === false ? { video: false } : {}),
        }),
      );
    } finally {
      off?.();
      clearTimeout(timer);
    }
  });
}

function mediaOptions(opts: MediaOpts): { audio: AudioInput; timeoutMs: number; durationMs?: number } {
  if (opts.tone !== undefined && opts.audioFile !== undefined)
    throw new UsageError("--tone", "give --tone or --audio-file, not both");
  let audio: AudioInput = { silence: true };
  if (opts.tone !== undefined) {
    const hz = Number(opts.tone);
    if (!Number.isFinite(hz) || hz < 20 || hz > 20_000)
      throw new UsageError("--tone", "a frequency in Hz, 20–20000");
    audio = { tone: hz };
  }
  if (opts.audioFile !== undefined) audio = { pcm: readAudio(opts.audioFile), sampleRate: 48_000 };
  if (opts.record !== undefined) recordingKind(opts.record);
  return {
    audio,
    timeoutMs: parseDuration(opts.timeout, "--timeout"),
    ...(opts.duration !== undefined ? { durationMs: parseDuration(opts.duration, "--duration") } : {}),
  };
}

function readAudio(path: string): Int16Array {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CliError(path, `cannot read it: ${(e as Error).message}`);
  }
  try {
    return readWav(bytes);
  } catch (e) {
    throw new CliError(path, e instanceof Error ? e.message.replace(/^PEOPLE_\w+: /, "") : String(e));
  }
}

/** Open the device with the WebRTC stack, start the call with `start`, and see it through. */
async function inCall(
  ctx: Context,
  opts: MediaOpts,
  start: (client: PeopleClient) => Promise<Call>,
): Promise<void> {
  const durationMs = opts.duration !== undefined ? parseDuration(opts.duration, "--duration") : undefined;
  const { wrtcEngine } = await import("../../client/calls/wrtc-engine.js");
  const signal = untilSignal();
  try {
    await ctx.withClient(
      async (client) => {
        const stopEvents = ctx.reportEvents(client);
        try {
          await ctx.connect(client);
          const starting = start(client);
          starting.catch(() => undefined);
          const c = await Promise.race([starting, signal.promise.then(() => undefined)]);
          if (!c) return;
          const recording = opts.record !== undefined ? await startRecording(c, opts.record) : undefined;
          let frames = 0;
          c.on("video", () => frames++);
          try {
            await follow(ctx, c, signal.promise, durationMs);
          } finally {
            if (recording)
              ctx.out.note(
                await recording.close().catch((e: unknown) => `The recording is unfinished: ${String(e)}`),
              );
            if (c.media === "video") ctx.out.note(`${frames} video frames arrived.`);
          }
          await ctx.deliver(client, FLUSH_MS);
        } finally {
          stopEvents();
        }
      },
      { mediaEngine: wrtcEngine },
    );
  } finally {
    signal.dispose();
  }
}

/** Print the state changes, hang up after `durationMs` of talking or on a signal, report the end. */
export async function follow(
  ctx: Context,
  c: Call,
  stopped: Promise<unknown>,
  durationMs?: number,
): Promise<void> {
  const peer = c.peer.address;
  const show = (state: string) => {
    if (ctx.out.json) ctx.out.data({ event: "state", state, peer, session: c.id });
    else if (state === "calling") ctx.out.note(`Ringing at ${peer}…`);
    else if (state === "connecting") ctx.out.note(`Answered; connecting…`);
    else if (state === "active") ctx.out.note(`Connected with ${peer} (${c.media}).`);
  };
  show(c.state);
  const offState = c.on("state", show);
  const refused = () => {
    if (ctx.out.json) ctx.out.data({ event: "video_refused", peer, session: c.id });
    else ctx.out.note(`${peer} answered audio only: their device takes no video.`);
  };
  // The answer may have come before this follows the call.
  if (c.videoRefused) refused();
  const offRefused = c.on("videoRefused", refused);
  const ended = c.whenEnded();
  let timer: NodeJS.Timeout | undefined;
  const done = c.whenActive().then(
    () =>
      durationMs === undefined
        ? new Promise<void>(() => undefined)
        : new Promise<void>((resolve) => (timer = setTimeout(resolve, durationMs))),
    () => undefined,
  );
  try {
    await Promise.race([ended, stopped, done]);
    if (!c.ended) await c.hangup();
    const e = await ended;
    const seconds = Math.round(e.durationMs / 1000);
    if (ctx.out.json)
      ctx.out.data({ event: "ended", reason: e.reason, remote: e.remote, duration_s: seconds });
    else ctx.out.note(`The call ended (${e.reason}${e.remote ? `, by ${peer}` : ""}) after ${seconds} s.`);
    if (e.reason !== "normal") throw new CliError(peer, `the call ended: ${e.reason.replace(/_/g, " ")}`);
  } finally {
    offState();
    offRefused();
    clearTimeout(timer);
  }
}
