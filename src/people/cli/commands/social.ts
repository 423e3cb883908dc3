// Posts and feeds: post, feed. The group commands are in groups.ts (re-exported
// here: program.ts loads the social commands as one module).
import { readFileSync, statSync } from "node:fs";
import { basename, resolve } from "node:path";
import type { GroupInfo, Post, PeopleClient, TransferOptions } from "../../client/people-client.js";
import { MAX_TEXT } from "../../protocol/messages.js";
import { MAX_POST_THUMBNAIL_BYTES } from "../../protocol/post-body.js";
import type { ErrorCode } from "../../errors.js";
import { addressArg, type Context } from "../context.js";
import { CliError, UsageError, about, codeText, fileErrorText } from "../errors.js";
import { formatSize } from "../output.js";
import { parseCount, parseDuration } from "../parse.js";
import { readStdin } from "../prompt.js";
import { guessMime } from "../files.js";
import { deliverQueued, undeliveredError } from "./deliver-queued.js";
import { findGroup, groupLabel } from "./groups.js";
import { postBlock, postJson } from "./post-render.js";

const MAX_POST_FILES = 16;
/** What a post may carry in all (the feed holds at most 350 KB of ciphertext per post, attachments aside). */
const MAX_POST_FILE_BYTES = 50 * 1024 * 1024;

export interface PostOpts {
  group?: string;
  public?: boolean;
  file?: string[];
  /** Thumbnails of the files, in the same order (fewer is fine). */
  thumbnail?: string[];
  timeout: string;
}

export * from "./groups.js";

// --- posts --------------------------------------------------------------------

/** A thumbnail file: a raster image of at most 1 MiB (its sides are measured by the client). */
function readThumbnail(path: string): { bytes: Buffer; mime: string } {
  const mime = guessMime(path);
  if (!mime.startsWith("image/") || mime === "image/svg+xml")
    throw new UsageError("--thumbnail", `${basename(path)}: a thumbnail is a JPEG, PNG, WebP or GIF image`);
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new CliError(path, "not a regular file");
    if (st.size > MAX_POST_THUMBNAIL_BYTES)
      throw new CliError(path, `${formatSize(st.size)} is more than a thumbnail may be (1 MiB)`);
    return { bytes: readFileSync(path), mime };
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(path, fileErrorText(e as NodeJS.ErrnoException));
  }
}

export async function post(ctx: Context, textArg: string | undefined, opts: PostOpts): Promise<void> {
  if ((opts.group === undefined) === !opts.public) {
    throw new UsageError(undefined, "post needs either --group <group> or --public");
  }
  const timeoutMs = parseDuration(opts.timeout, "--timeout");
  const files = (opts.file ?? []).map((f) => resolve(f));
  if (files.length > MAX_POST_FILES)
    throw new UsageError("--file", `a post holds at most ${MAX_POST_FILES} files`);
  let text = textArg;
  if (text === "-")
    text = (await readStdin(ctx.io, MAX_TEXT, "the post")).toString("utf8").replace(/\r?\n$/, "");
  if (text !== undefined && text.trim() === "") text = undefined;
  if (text === undefined && files.length === 0) {
    throw new UsageError(undefined, "post needs a text (or - to read it from stdin), or --file");
  }
  if (text !== undefined && text.length > MAX_TEXT) {
    throw new UsageError(undefined, `the post is longer than ${MAX_TEXT} characters`);
  }
  const thumbnails = (opts.thumbnail ?? []).map((f) => resolve(f));
  if (thumbnails.length > files.length)
    throw new UsageError("--thumbnail", "each --thumbnail goes with a --file: more thumbnails than files");
  const attachments = files.map((path, i) => {
    const thumbnail = thumbnails[i] === undefined ? undefined : readThumbnail(thumbnails[i]);
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new CliError(path, "not a regular file");
      if (st.size > MAX_POST_FILE_BYTES) {
        throw new CliError(
          path,
          `${formatSize(st.size)} is more than a post may hold (${formatSize(MAX_POST_FILE_BYTES)})`,
        );
      }
      return {
        bytes: readFileSync(path),
        mime: guessMime(path),
        name: basename(path),
        ...(thumbnail ? { thumbnail } : {}),
      };
    } catch (e) {
      if (e instanceof CliError) throw e;
      throw new CliError(path, fileErrorText(e as NodeJS.ErrnoException));
    }
  });

  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    try {
      let group: GroupInfo | undefined;
      if (opts.group !== undefined) {
        // A member needs the group's current key, which arrives as mail: fetch it first.
        await ctx.connect(client);
        group = await findGroup(client, opts.group);
      }
      const total = attachments.reduce((n, a) => n + a.bytes.length, 0);
      const progress =
        attachments.length > 0
          ? ctx.out.progress(
              `encrypting and uploading ${attachments.length} file${attachments.length === 1 ? "" : "s"} (${formatSize(total)})`,
            )
          : undefined;
      const input = {
        ...(text !== undefined ? { text } : {}),
        attachments,
        ...(progress ? { onProgress: progress.bytes } : {}),
      };
      let published: Post & { undelivered?: { address: string; code: ErrorCode }[] };
      try {
        published = group
          ? await about(opts.group!, () => client.posts.post(group.id, input))
          : await about(client.address, () => client.posts.postPublic(input));
      } catch (e) {
        progress?.fail();
        throw e;
      }
      progress?.done(
        `uploaded ${attachments.length} file${attachments.length === 1 ? "" : "s"} (${formatSize(total)})`,
      );
      const undelivered = published.undelivered ?? [];
      const left = group ? await deliverQueued(ctx, client, timeoutMs) : 0;
      if (ctx.out.json) {
        ctx.out.data({
          id: published.id,
          public: published.public,
          ...(group ? { group: group.id, epoch: published.epoch } : {}),
          undelivered,
          queued: left,
        });
      } else {
        ctx.out.line(
          group
            ? `Posted to ${groupLabel(group)} (post ${published.id}); its members were told.`
            : `Posted publicly on your feed (post ${published.id}): anyone can read it.`,
        );
      }
      undeliveredError(ctx, undelivered, "was not told about the post (it is in your feed all the same)");
    } finally {
      stopEvents();
    }
  });
}

export async function feed(
  ctx: Context,
  input: string,
  opts: { after?: string; limit?: string; offline?: boolean },
): Promise<void> {
  const author = addressArg(input);
  const after = opts.after !== undefined ? parseCount(opts.after, "--after") : undefined;
  const limit = opts.limit !== undefined ? parseCount(opts.limit, "--limit") : undefined;
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    try {
      // Group keys arrive as mail: fetch them first, so the newest posts open.
      if (!opts.offline) await ctx.connect(client);
      const result = await about(author, () =>
        client.posts.feed(author, {
          ...(after !== undefined ? { after } : {}),
          ...(limit !== undefined ? { max: limit } : {}),
        }),
      );
      if (ctx.out.json) {
        ctx.out.data({
          author: result.author,
          posts: result.posts.map(postJson),
          unopenable: result.unopenable.map((u) => ({
            id: u.id,
            seq: u.seq,
            public: u.public,
            ...(u.group !== undefined ? { group: u.group, epoch: u.epoch } : {}),
            code: u.code,
            reason: codeText(u.code),
          })),
          next: result.next,
        });
        return;
      }
      const names = new Map((await client.groups.list()).map((g) => [g.id, g.name]));
      if (result.posts.length === 0) ctx.out.line(`No posts of ${author} you can read.`);
      for (const p of result.posts) {
        ctx.out.line(postBlock(p, p.group !== undefined ? names.get(p.group) : undefined));
        ctx.out.line();
      }
      if (result.unopenable.length > 0) {
        const noKey = result.unopenable.filter((u) => u.code === "PEOPLE_UNKNOWN_KEY").length;
        ctx.out.line(
          `${result.unopenable.length} more post(s) you cannot open` +
            (noKey > 0 ? ` (${noKey} for group key epochs you were not given)` : "") +
            ".",
        );
      }
      ctx.out.line(`Newer posts only, next time: people feed ${author} --after ${result.next}`);
    } finally {
      stopEvents();
    }
  });
}

/** A post's attachment, for `download <post-id> --author`. */
export async function findPostAttachment(
  client: PeopleClient,
  author: string,
  prefix: string,
  index: number | undefined,
) {
  const result = await about(author, () => client.posts.feed(author));
  const matches = result.posts.filter((p) => p.id.startsWith(prefix));
  const p = matches.find((x) => x.id === prefix) ?? (matches.length === 1 ? matches[0] : undefined);
  if (matches.length > 1 && !p) throw new UsageError(prefix, "matches several posts; give more of the id");
  if (!p) throw new CliError(prefix, `no post with this id that you can open in the feed of ${author}`);
  if (p.attachments.length === 0) throw new CliError(p.id, "this post has no attachment");
  if (index === undefined && p.attachments.length > 1) {
    throw new UsageError(
      p.id,
      `this post has ${p.attachments.length} attachments: choose one with --index 1…${p.attachments.length}`,
    );
  }
  const i = (index ?? 1) - 1;
  if (i >= p.attachments.length)
    throw new UsageError(String(index), `this post has ${p.attachments.length} attachment(s)`);
  return {
    id: p.id,
    ref: p.attachments[i]!,
    download: (o: TransferOptions) => client.posts.download(p.attachments[i]!, o),
  };
}
