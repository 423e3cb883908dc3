// chat: a realtime data session with one other device, line by line: every
// line of stdin is one frame, sealed end to end with the session's keys;
// every frame received is printed. One side calls an address, the other
// answers (`--answer`). The session ends with Ctrl-D on a terminal, on
// Ctrl-C or SIGTERM, or when the other side hangs up; piped input that ends
// only stops sending.
import { createInterface } from "node:readline";
import type { PeopleClient, IncomingCall, RtSession } from "../../client/people-client.js";
import { MAX_FRAME_DATA } from "../../protocol/frame-cipher.js";
import { isPeopleError } from "../../errors.js";
import { addressArg, type Context } from "../context.js";
import { CliError, UsageError, about } from "../errors.js";
import { clean, oneLine } from "../output.js";
import { parseDuration } from "../parse.js";
import { untilSignal } from "../signals.js";

export interface ChatOpts {
  answer?: boolean;
  from?: string;
  timeout: string;
}

/** Time for the last frames and the hangup to leave the outbox (across servers they travel as mail). */
const FLUSH_MS = 10_000;

export async function chat(ctx: Context, input: string | undefined, opts: ChatOpts): Promise<void> {
  if ((input === undefined) === !opts.answer) {
    throw new UsageError(undefined, "chat needs an address to call, or --answer to wait for a call");
  }
  if (opts.from !== undefined && !opts.answer) throw new UsageError("--from", "goes with --answer");
  const callee = input !== undefined ? addressArg(input) : undefined;
  const from = opts.from !== undefined ? addressArg(opts.from) : undefined;
  const timeoutMs = parseDuration(opts.timeout, "--timeout");
  const signal = untilSignal();
  try {
    await ctx.withClient(async (client) => {
      const stopEvents = ctx.reportEvents(client);
      try {
        await ctx.connect(client);
        const connecting =
          callee !== undefined ? call(ctx, client, callee, timeoutMs) : answer(ctx, client, from, timeoutMs);
        connecting.catch(() => undefined); // after a signal, closing the client ends it with an error
        const session = await Promise.race([connecting, signal.promise.then(() => undefined)]);
        if (session) await talk(ctx, session, signal.promise);
        await ctx.deliver(client, FLUSH_MS);
      } finally {
        stopEvents();
      }
    });
  } finally {
    signal.dispose();
  }
}

async function call(ctx: Context, client: PeopleClient, address: string, timeoutMs: number) {
  ctx.out.note(`Calling ${address}… (Ctrl-C to stop)`);
  const session = await about(address, () => client.realtime.call(address, { timeoutMs }));
  await opened(session, address, "did not answer");
  return session;
}

async function answer(ctx: Context, client: PeopleClient, from: string | undefined, timeoutMs: number) {
  ctx.out.note(`Waiting for a call${from ? ` from ${from}` : ""}… (Ctrl-C to stop)`);
  const wanted = (c: IncomingCall) => from === undefined || c.from === from;
  let off: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const offer =
      client.realtime.incoming().find(wanted) ??
      (await new Promise<IncomingCall>((resolve, reject) => {
        off = client.realtime.on("offer", (c) => {
          if (wanted(c)) resolve(c);
        });
        timer = setTimeout(() => reject(new CliError(from, "no call came")), timeoutMs);
      }));
    const session = await about(offer.from, () => client.realtime.accept(offer.session));
    await opened(session, offer.from, "did not connect");
    return session;
  } finally {
    off?.();
    clearTimeout(timer);
  }
}

async function opened(session: RtSession, peer: string, failure: string): Promise<void> {
  let reason: string | undefined;
  const off = session.on("close", (c) => (reason = c.reason));
  try {
    await session.whenOpen();
  } catch (e) {
    if (isPeopleError(e) && reason === undefined) throw new CliError(peer, `${failure}: ${e.publicText}`);
    throw new CliError(
      peer,
      reason === "declined" ? "declined the call" : `${failure} (${reason ?? "closed"})`,
    );
  } finally {
    off();
  }
}

/** Lines out, frames in, until stdin ends, a signal comes, or the peer hangs up. */
async function talk(ctx: Context, session: RtSession, stopped: Promise<unknown>): Promise<void> {
  const peer = session.peer.address;
  if (ctx.out.json) ctx.out.data({ event: "open", peer, transport: session.transport ?? null });
  else ctx.out.note(`Connected with ${peer} (${session.transport ?? "…"}). Type lines to send; Ctrl-D ends.`);
  const offData = session.on("data", (data) => {
    const text = data.toString("utf8");
    if (ctx.out.json) ctx.out.data({ event: "data", from: peer, text });
    else ctx.out.line(`${peer}: ${clean(text)}`);
  });
  const closed = new Promise<{ reason: string; remote: boolean }>((resolve) => session.on("close", resolve));
  const lines = createInterface({ input: ctx.io.stdin, terminal: false });
  let sending = Promise.resolve();
  // On a terminal, Ctrl-D ends the session; the end of piped input only ends sending (as with nc).
  const ended = ctx.io.stdin.isTTY
    ? new Promise<void>((resolve) => lines.on("close", resolve))
    : new Promise<void>(() => undefined);
  lines.on("line", (line) => {
    const bytes = Buffer.from(line, "utf8");
    sending = sending.then(async () => {
      if (bytes.length > MAX_FRAME_DATA) {
        ctx.out.warn(undefined, `a line longer than ${MAX_FRAME_DATA} bytes was not sent`);
        return;
      }
      await session.send(bytes).catch((e: unknown) => ctx.out.warn(peer, `not sent: ${oneLine(String(e))}`));
    });
  });
  try {
    const how = await Promise.race([
      ended.then(() => "eof" as const),
      stopped.then(() => "signal" as const),
      closed.then((c) => c),
    ]);
    if (typeof how === "object") {
      if (ctx.out.json) ctx.out.data({ event: "close", reason: how.reason, remote: how.remote });
      else ctx.out.note(how.remote ? `${peer} hung up.` : `The session ended (${how.reason}).`);
      if (how.reason !== "normal") throw new CliError(peer, `the session ended: ${how.reason}`);
      return;
    }
    await sending;
    await session.hangup("normal");
    if (ctx.out.json) ctx.out.data({ event: "close", reason: "normal", remote: false });
  } finally {
    offData();
    lines.close();
  }
}
