// Messages: send, inbox, watch (download is in download.ts, re-exported here
// for program.ts).
import { readFileSync, statSync } from "node:fs";
import { basename, resolve } from "node:path";
import type { PeopleClient } from "../../client/people-client.js";
import type { DeliveryEvent } from "../../client/events.js";
import { DEFAULT_MAX_ATTACHMENT } from "../../client/attachments.js";
import { MAX_TEXT } from "../../protocol/messages.js";
import { PeopleError, isPeopleError } from "../../errors.js";
import type { PeopleAddress } from "../../protocol/address.js";
import { addressArg, CONNECT_TIMEOUT_MS, type Context } from "../context.js";
import { CliError, UsageError, about, codeText, fileErrorText } from "../errors.js";
import { formatSize, formatTime, oneLine } from "../output.js";
import { parseCount, parseDuration, parseSince } from "../parse.js";
import { readStdin } from "../prompt.js";
import { isConversation, messageBlock, messageJson, summary } from "../render.js";
import { postBlock, postJson } from "./post-render.js";
import { untilSignal } from "../signals.js";
import { MIME_PATTERN, guessMime } from "../files.js";

export { download, type DownloadOpts } from "./download.js";

export interface SendOpts {
  file?: string;
  mime?: string;
  caption?: string;
  timeout: string;
}

export async function send(ctx: Context, args: string[], opts: SendOpts): Promise<void> {
  const timeoutMs = parseDuration(opts.timeout, "--timeout");
  let addresses: string[];
  let text: string | undefined;
  if (opts.file !== undefined) {
    addresses = args;
  } else {
    if (args.length < 2) {
      throw new UsageError(
        undefined,
        "send needs the recipients and then the message text (or - to read it from stdin, or --file)",
      );
    }
    addresses = args.slice(0, -1);
    text = args.at(-1)!;
  }
  if (opts.file === undefined && (opts.caption !== undefined || opts.mime !== undefined)) {
    throw new UsageError(opts.caption !== undefined ? "--caption" : "--mime", "goes with --file only");
  }
  const recipients = [...new Set(addresses.map(addressArg))];

  let attachment: { bytes: Buffer; name: string; mime: string; path: string } | undefined;
  if (opts.file !== undefined) {
    const path = resolve(opts.file);
    const mime = opts.mime ?? guessMime(path);
    if (!MIME_PATTERN.test(mime)) throw new UsageError(mime, "--mime expects a media type like image/png");
    let size: number;
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new CliError(path, "not a regular file");
      size = st.size;
    } catch (e) {
      if (e instanceof CliError) throw e;
      throw new CliError(path, fileErrorText(e as NodeJS.ErrnoException));
    }
    if (size > DEFAULT_MAX_ATTACHMENT) {
      throw new CliError(
        path,
        `${formatSize(size)} is more than attachments may hold (${formatSize(DEFAULT_MAX_ATTACHMENT)})`,
      );
    }
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (e) {
      throw new CliError(path, fileErrorText(e as NodeJS.ErrnoException));
    }
    attachment = { bytes, name: basename(path), mime, path };
  } else if (text === "-") {
    text = (await readStdin(ctx.io, MAX_TEXT, "the message")).toString("utf8").replace(/\r?\n$/, "");
  }
  if (text !== undefined && text.trim() === "") throw new UsageError("message", "the message is empty");
  if (text !== undefined && Buffer.byteLength(text) > MAX_TEXT) {
    throw new UsageError("message", `the message is longer than ${MAX_TEXT} bytes`);
  }

  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    const events: { kind: "delivered" | "undeliverable"; e: DeliveryEvent }[] = [];
    const offDelivered = client.on("delivered", (e) => events.push({ kind: "delivered", e }));
    const offUndeliverable = client.on("undeliverable", (e) => events.push({ kind: "undeliverable", e }));
    try {
      // Each recipient's keys first, so a failure names the address that caused it.
      for (const address of recipients) {
        const r = await about(address, () => client.contacts.resolve(address));
        if (r.status === "unexplained") {
          throw new CliError(
            address,
            `their keys changed in a way their account did not sign, so nothing is sent to them. ` +
              `Compare safety numbers, then run \`people verify ${address} --accept-change\`.`,
          );
        }
      }
      const subject = recipients.length === 1 ? recipients[0]! : recipients.join(", ");
      let id: string;
      if (attachment) {
        const a = attachment;
        const progress = ctx.out.progress(
          `encrypting and uploading ${a.name} (${formatSize(a.bytes.length)})`,
        );
        try {
          id = await about(a.path, () =>
            client
              .sendAttachment(
                recipients,
                a.bytes,
                { mime: a.mime, name: a.name, ...(opts.caption ? { caption: opts.caption } : {}) },
                { onProgress: progress.bytes },
              )
              .catch(serverKeyHint),
          );
        } catch (e) {
          progress.fail();
          throw e;
        }
        progress.done(`uploaded ${a.name} (${formatSize(a.bytes.length)})`);
      } else {
        id = await about(subject, () => client.sendText(recipients, text!).catch(serverKeyHint));
      }
      const left = await ctx.deliver(client, timeoutMs);
      await report(ctx, client, id, recipients, left, events);
    } finally {
      offDelivered();
      offUndeliverable();
      stopEvents();
    }
  });
}

/**
 * Every recipient's keys were checked just before sealing, so a chain fork now is a
 * recipient's server whose identity key changed: say how to accept it.
 */
function serverKeyHint(e: unknown): never {
  if (isPeopleError(e, "PEOPLE_CHAIN_FORK")) {
    throw new PeopleError(e.code, e.message, {
      cause: e,
      publicText: `${e.publicText} If you trust the change, run \`people verify <address> --accept-server-key\`.`,
    });
  }
  throw e;
}

async function report(
  ctx: Context,
  client: PeopleClient,
  id: string,
  recipients: PeopleAddress[],
  left: number,
  events: { kind: "delivered" | "undeliverable"; e: DeliveryEvent }[],
): Promise<void> {
  const mine = events.filter((x) => x.e.messageId === id);
  const delivered = recipients.filter((a) => mine.some((x) => x.kind === "delivered" && x.e.address === a));
  const refused = mine
    .filter((x) => x.kind === "undeliverable" && x.e.address !== client.address)
    .map((x) => ({ address: x.e.address, reason: x.e.code ? codeText(x.e.code) : "refused" }));
  const queued = recipients.filter((a) => !delivered.includes(a) && !refused.some((r) => r.address === a));
  if (ctx.out.json) {
    ctx.out.data({
      id,
      to: recipients,
      delivered,
      queued,
      undeliverable: refused,
      outbox: left,
    });
  } else {
    if (delivered.length > 0) ctx.out.line(`Sent to ${delivered.join(", ")} (message ${id}).`);
    if (queued.length > 0) {
      ctx.out.line(
        `Queued for ${queued.join(", ")}: their server did not take it yet. It is tried again whenever \`people\` runs (keep \`people watch\` running to have it sent as soon as possible).`,
      );
    }
  }
  if (refused.length > 0) {
    const first = refused[0]!;
    for (const r of refused.slice(1)) ctx.out.warn(r.address, `not delivered: ${r.reason}`);
    throw new CliError(first.address, `not delivered: ${first.reason}`);
  }
}

export interface InboxOpts {
  since?: string;
  from?: string;
  all?: boolean;
  limit?: string;
  offline?: boolean;
}

export async function inbox(ctx: Context, opts: InboxOpts): Promise<void> {
  const since = opts.since !== undefined ? parseSince(opts.since) : undefined;
  const from = opts.from !== undefined ? addressArg(opts.from) : undefined;
  const limit = opts.limit !== undefined ? parseCount(opts.limit, "--limit") : undefined;
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    let syncError: unknown;
    try {
      if (!opts.offline) {
        await ctx.connect(client).catch((e: unknown) => (syncError = e));
        if (syncError === undefined) {
          await ctx.maintain(client);
          await ctx.flushQueued(client);
        }
      }
      let entries = (await client.inbox()).filter(
        (m) =>
          isConversation(m) &&
          (opts.all || !m.outgoing) &&
          (since === undefined || m.receivedAt >= since) &&
          (from === undefined || m.from === from),
      );
      if (limit !== undefined) entries = entries.slice(-limit);
      if (ctx.out.json) {
        ctx.out.data(entries.map(messageJson));
      } else if (entries.length === 0) {
        ctx.out.line("No messages.");
      } else {
        ctx.out.table(
          ["ID", "RECEIVED", "FROM", "MESSAGE"],
          entries.map((m) => [
            m.id,
            formatTime(m.receivedAt),
            m.outgoing ? `(to ${oneLine(m.to.join(", "))})` : oneLine(m.from),
            summary(m.content),
          ]),
          { shrink: 3 },
        );
      }
    } finally {
      stopEvents();
    }
    // What is stored was listed; that new mail could not be fetched is still a failure.
    if (syncError !== undefined) throw syncError;
  });
}

export interface WatchOpts {
  answerCalls?: boolean;
  tone?: string;
}

export async function watch(ctx: Context, opts: WatchOpts = {}): Promise<void> {
  const signal = untilSignal();
  const tone = opts.tone !== undefined ? Number(opts.tone) : undefined;
  if (tone !== undefined && !(tone >= 20 && tone <= 20_000))
    throw new UsageError("--tone", "a frequency in Hz, 20–20000");
  const engine = opts.answerCalls
    ? (await import("../../client/calls/wrtc-engine.js")).wrtcEngine
    : undefined;
  try {
    await ctx.withClient(
      async (client) => {
        const stopEvents = ctx.reportEvents(client);
        const offMessage = client.onMessage((m) => {
          if (!isConversation(m)) return;
          if (ctx.out.json) ctx.out.data({ event: "message", ...messageJson(m) });
          else ctx.out.line(messageBlock(m));
        });
        // Group posts, announced by notices and fetched from their authors' feeds.
        const offPost = client.posts.events.on("post", (p) => {
          if (ctx.out.json) ctx.out.data({ event: "post", ...postJson(p) });
          else
            void client.groups
              .list()
              .then((gs) => ctx.out.line(postBlock(p, gs.find((g) => g.id === p.group)?.name)));
        });
        const offPostError = client.posts.events.on("error", (e) =>
          ctx.out.warn(e.author, `a post could not be read: ${codeText(e.code)}`),
        );
        // Calls ring here too; with --answer-calls they are taken (`people answer`, run instead, waits for one).
        const offRing = client.calls.on("incoming", (c) => {
          if (ctx.out.json) ctx.out.data({ event: "call", from: c.from, media: c.media, session: c.session });
          else ctx.out.line(`${c.from} is calling (${c.media}).`);
          if (engine) void takeCall(ctx, client, c.session, tone, signal.promise);
        });
        const offRingEnd = client.calls.on("ringingEnded", (e) => {
          if (ctx.out.json)
            ctx.out.data({ event: "call_ended", from: e.from, reason: e.reason, session: e.session });
          else ctx.out.line(`The call from ${e.from} stopped ringing (${e.reason.replace(/_/g, " ")}).`);
        });
        let connected: boolean | undefined;
        const offConnection = client.on("connection", (c) => {
          const now = c.state === "open";
          if (now === connected) return;
          connected = now;
          if (now) ctx.out.note(`Connected as ${client.address}; waiting for messages (Ctrl-C to stop).`);
          else ctx.out.note(`Disconnected from the server; trying again…`);
        });
        const offKeyChange = client.onKeyChange((e) => {
          if (ctx.out.json)
            ctx.out.data({ event: "key_change", kind: e.kind, subject: e.subject, code: e.code });
        });
        try {
          // The first connection must work (a wrong pin or a server that is down is an error at once);
          // after that, the client reconnects by itself until stopped.
          const connecting = ctx.connect(client, CONNECT_TIMEOUT_MS).then(() => ctx.maintain(client));
          connecting.catch(() => undefined); // when a signal comes first, the client is closed and this fails
          await Promise.race([connecting, signal.promise]);
          await signal.promise;
        } finally {
          offMessage();
          offRing();
          offRingEnd();
          offPost();
          offPostError();
          offConnection();
          offKeyChange();
          stopEvents();
        }
      },
      engine ? { mediaEngine: engine } : {},
    );
  } finally {
    signal.dispose();
  }
}

async function takeCall(
  ctx: Context,
  client: PeopleClient,
  session: string,
  tone: number | undefined,
  stopped: Promise<unknown>,
): Promise<void> {
  try {
    const { follow } = await import("./call.js");
    const call = await client.calls.answer(session, {
      audio: tone !== undefined ? { tone } : { silence: true },
    });
    await follow(ctx, call, stopped);
  } catch (e) {
    ctx.out.warn(undefined, `the call: ${e instanceof Error ? e.message : String(e)}`);
  }
}
