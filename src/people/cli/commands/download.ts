// download: a message's attachment from the inbox, or a post's from its
// author's feed (--author), decrypted and written atomically.
import { closeSync, existsSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { PeopleClient, TransferOptions } from "../../client/people-client.js";
import type { InboxEntry } from "../../client/local-store.js";
import type { BlobRef } from "../../protocol/messages.js";
import { addressArg, type Context } from "../context.js";
import { CliError, UsageError, about, fileErrorText } from "../errors.js";
import { formatSize, oneLine } from "../output.js";
import { parseCount } from "../parse.js";
import { findPostAttachment } from "./social.js";

export interface DownloadOpts {
  output?: string;
  force?: boolean;
  author?: string;
  index?: string;
}

export async function download(ctx: Context, idInput: string, opts: DownloadOpts): Promise<void> {
  const idPrefix = idInput.trim();
  if (!/^[A-Za-z0-9_-]{4,22}$/.test(idPrefix)) {
    throw new UsageError(idInput, "not a message or post id (as `people inbox` or `people feed` shows it)");
  }
  const author = opts.author !== undefined ? addressArg(opts.author) : undefined;
  const index = opts.index !== undefined ? parseCount(opts.index, "--index") : undefined;
  if (index !== undefined && author === undefined)
    throw new UsageError("--index", "goes with --author (posts)");
  await ctx.withClient(async (client) => {
    let target: { id: string; ref: BlobRef; download: (o: TransferOptions) => Promise<Buffer> };
    if (author !== undefined) {
      // A post's attachment: from the author's feed (with group keys fetched first).
      await ctx.connect(client).catch((e: unknown) => ctx.out.debug(`sync: ${String(e)}`));
      target = await findPostAttachment(client, author, idPrefix, index);
    } else {
      let message = await find(client, idPrefix);
      if (!message) {
        await ctx.connect(client).catch((e: unknown) => ctx.out.debug(`sync: ${String(e)}`));
        message = await find(client, idPrefix);
      }
      if (!message) {
        throw new CliError(
          idPrefix,
          "no message with this id on this device (see `people inbox`; for a post add --author)",
        );
      }
      const c = message.content;
      if (c.type !== "attachment") throw new CliError(message.id, "this message has no attachment");
      target = { id: message.id, ref: c.blob, download: (o) => client.downloadAttachment(c.blob, o) };
    }
    const { ref } = target;
    const name = safeName(ref.name, target.id);
    const toStdout = opts.output === "-";
    const path = toStdout ? "-" : resolve(opts.output ?? name);
    if (!toStdout) {
      if (existsSync(path) && statSync(path).isDirectory()) {
        throw new CliError(path, "is a directory; give a file name with -o");
      }
      if (existsSync(path) && !opts.force) {
        throw new CliError(path, "already exists; use --force to overwrite it or -o to choose another name");
      }
    }
    const progress = ctx.out.progress(`downloading ${oneLine(name)} (${formatSize(ref.size)})`);
    let bytes: Buffer;
    try {
      bytes = await about(target.id, () => target.download({ onProgress: progress.bytes }));
    } catch (e) {
      progress.fail();
      throw e;
    }
    progress.done(`downloaded ${oneLine(name)} (${formatSize(bytes.length)})`);
    if (toStdout) {
      ctx.io.stdout.write(bytes);
      return;
    }
    writeAtomically(path, bytes);
    if (ctx.out.json) ctx.out.data({ id: target.id, file: path, size: bytes.length, mime: ref.mime });
    else ctx.out.line(`Saved ${path} (${formatSize(bytes.length)}, ${oneLine(ref.mime)}).`);
  });
}

async function find(client: PeopleClient, prefix: string): Promise<InboxEntry | undefined> {
  const matches = (await client.inbox()).filter((m) => m.id.startsWith(prefix));
  const exact = matches.find((m) => m.id === prefix);
  if (exact) return exact;
  if (matches.length > 1) throw new UsageError(prefix, "matches several messages; give more of the id");
  return matches[0];
}

/** The sender's file name, stripped of directories and anything odd; the message id when nothing is left. */
function safeName(name: string | undefined, id: string): string {
  const cleaned = (name ?? "")
    .split(/[\\/]/)
    .pop()!
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, "")
    .trim();
  return cleaned === "" || cleaned === "." || cleaned === ".." || cleaned.startsWith(".")
    ? `attachment-${id}`
    : cleaned;
}

/** Write to a temporary file beside `path`, then rename it: no half-written file under the final name. */
function writeAtomically(path: string, bytes: Buffer): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.part`);
  try {
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, bytes);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new CliError(path, fileErrorText(e as NodeJS.ErrnoException));
  }
}
