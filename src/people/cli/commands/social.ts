// Groups, posts and feeds: group (create, list, show, add, remove), post, feed.
// A group is owned by the account that made it; its members' devices learn it
// (by id; the name stays with the owner) from the key the owner sends them, so
// the commands that read groups fetch new mail first.
import { readFileSync, statSync } from "node:fs";
import { basename, resolve } from "node:path";
import type { GroupInfo, Post, PeopleClient, TransferOptions } from "../../client/people-client.js";
import { MAX_TEXT } from "../../protocol/messages.js";
import type { ErrorCode } from "../../errors.js";
import { addressArg, type Context } from "../context.js";
import { CliError, UsageError, about, codeText, fileErrorText } from "../errors.js";
import { formatSize, formatTime, iso, oneLine } from "../output.js";
import { parseCount, parseDuration } from "../parse.js";
import { readStdin } from "../prompt.js";
import { guessMime } from "../files.js";

const MAX_POST_FILES = 16;
/** What a post may carry in all (the feed holds at most 350 KB of ciphertext per post, attachments aside). */
const MAX_POST_FILE_BYTES = 50 * 1024 * 1024;

export interface PostOpts {
  group?: string;
  public?: boolean;
  file?: string[];
  timeout: string;
}

// --- groups -------------------------------------------------------------------

/** A group by id, a unique beginning of its id, or its name (known on the owner's devices). */
async function findGroup(client: PeopleClient, ref: string): Promise<GroupInfo> {
  const groups = await client.groups.list();
  const exact = groups.find((g) => g.id === ref);
  if (exact) return exact;
  const byPrefix = ref.length >= 4 ? groups.filter((g) => g.id.startsWith(ref)) : [];
  const byName = groups.filter((g) => g.name === ref);
  const matches = [...new Set([...byPrefix, ...byName])];
  if (matches.length > 1) throw new UsageError(ref, "matches several groups; give its id");
  if (matches.length === 0) throw new CliError(ref, "no such group on this device (see `people group list`)");
  return matches[0]!;
}

function groupJson(g: GroupInfo) {
  return {
    id: g.id,
    name: g.name,
    owner: g.owner,
    is_owner: g.isOwner,
    epoch: g.epoch,
    members: g.members,
  };
}

function groupLabel(g: { id: string; name: string | null }): string {
  return g.name !== null ? `"${oneLine(g.name)}" (${g.id})` : g.id;
}

/** Members the group key could not be sealed to: reported, and the command fails after its output. */
function undeliveredError(ctx: Context, undelivered: { address: string; code: ErrorCode }[], what: string) {
  if (undelivered.length === 0) return;
  for (const u of undelivered.slice(1)) ctx.out.warn(u.address, `${what}: ${codeText(u.code)}`);
  const first = undelivered[0]!;
  throw new CliError(first.address, `${what}: ${codeText(first.code)}`);
}

/** Send what the command queued (group keys, notices); say so if some has to wait. */
async function deliverQueued(ctx: Context, client: PeopleClient, timeoutMs = 10_000): Promise<number> {
  const left = await ctx.deliver(client, timeoutMs);
  if (left > 0) {
    ctx.out.note(
      `${left} message cop${left === 1 ? "y" : "ies"} could not be delivered yet; they are tried again whenever \`people\` runs.`,
    );
  }
  return left;
}

export async function groupCreate(ctx: Context, name: string, memberArgs: string[]): Promise<void> {
  if (name.trim() === "" || name.length > 256)
    throw new UsageError(name, "a group name is 1 to 256 characters");
  const members = [...new Set(memberArgs.map(addressArg))];
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    try {
      for (const address of members) await about(address, () => client.contacts.resolve(address));
      const g = await about(name, () => client.groups.createGroup(name, members));
      const left = await deliverQueued(ctx, client);
      if (ctx.out.json) {
        ctx.out.data({ ...groupJson(g), undelivered: g.undelivered, queued: left });
      } else {
        ctx.out.line(`Created group ${groupLabel(g)} with ${g.members.join(", ")}.`);
        ctx.out.line(`Post to it: people post --group ${g.id} "…"`);
      }
      undeliveredError(ctx, g.undelivered, "did not get the group key");
    } finally {
      stopEvents();
    }
  });
}

export async function groupList(ctx: Context, opts: { offline?: boolean }): Promise<void> {
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    try {
      if (!opts.offline) await ctx.connect(client);
      const groups = await client.groups.list();
      if (ctx.out.json) {
        ctx.out.data(groups.map(groupJson));
      } else if (groups.length === 0) {
        ctx.out.line("No groups. Make one with: people group create <name> [member…]");
      } else {
        ctx.out.table(
          ["ID", "NAME", "OWNER", "MEMBERS", "EPOCH"],
          groups.map((g) => [
            g.id,
            g.name !== null ? oneLine(g.name) : "-",
            g.isOwner ? `${g.owner} (you)` : g.owner,
            String(g.members.length),
            String(g.epoch),
          ]),
          { shrink: 1 },
        );
      }
    } finally {
      stopEvents();
    }
  });
}

export async function groupShow(ctx: Context, ref: string, opts: { offline?: boolean }): Promise<void> {
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    try {
      if (!opts.offline) await ctx.connect(client);
      const g = await findGroup(client, ref);
      if (ctx.out.json) {
        ctx.out.data(groupJson(g));
        return;
      }
      ctx.out.line(`Group ${groupLabel(g)}, owned by ${g.isOwner ? "you" : g.owner}, key epoch ${g.epoch}.`);
      ctx.out.line(`Members:`);
      for (const m of g.members) ctx.out.line(`  ${m}${m === g.owner ? " (owner)" : ""}`);
    } finally {
      stopEvents();
    }
  });
}

export async function groupAdd(
  ctx: Context,
  ref: string,
  input: string,
  opts: { rotate?: boolean },
): Promise<void> {
  const address = addressArg(input);
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    try {
      const g = await findGroup(client, ref);
      if (!g.isOwner) throw new CliError(ref, `only its owner ${g.owner} changes the members`);
      await about(address, () => client.contacts.resolve(address));
      const update = await about(address, () =>
        client.groups.addMember(g.id, address, opts.rotate === false ? { rotate: false } : {}),
      );
      const left = await deliverQueued(ctx, client);
      if (ctx.out.json) {
        ctx.out.data({ ...groupJson(update), undelivered: update.undelivered, queued: left });
      } else {
        ctx.out.line(
          `Added ${address} to ${groupLabel(update)}` +
            (opts.rotate === false
              ? `; they can read what was posted in key epoch ${update.epoch}.`
              : `; new key epoch ${update.epoch}, so they cannot read earlier posts.`),
        );
      }
      undeliveredError(ctx, update.undelivered, "did not get the new group key");
    } finally {
      stopEvents();
    }
  });
}

export async function groupRemove(ctx: Context, ref: string, input: string): Promise<void> {
  const address = addressArg(input);
  await ctx.withClient(async (client) => {
    const stopEvents = ctx.reportEvents(client);
    try {
      const g = await findGroup(client, ref);
      if (!g.isOwner) throw new CliError(ref, `only its owner ${g.owner} changes the members`);
      const update = await about(address, () => client.groups.removeMember(g.id, address));
      const left = await deliverQueued(ctx, client);
      if (ctx.out.json) {
        ctx.out.data({ ...groupJson(update), undelivered: update.undelivered, queued: left });
      } else {
        ctx.out.line(
          `Removed ${address} from ${groupLabel(update)}; new key epoch ${update.epoch}, which they do not get.`,
        );
      }
      undeliveredError(ctx, update.undelivered, "did not get the new group key");
    } finally {
      stopEvents();
    }
  });
}

// --- posts --------------------------------------------------------------------

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
  const attachments = files.map((path) => {
    try {
      const st = statSync(path);
      if (!st.isFile()) throw new CliError(path, "not a regular file");
      if (st.size > MAX_POST_FILE_BYTES) {
        throw new CliError(
          path,
          `${formatSize(st.size)} is more than a post may hold (${formatSize(MAX_POST_FILE_BYTES)})`,
        );
      }
      return { bytes: readFileSync(path), mime: guessMime(path), name: basename(path) };
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

export function postJson(p: Post) {
  return {
    id: p.id,
    seq: p.seq,
    author: p.author,
    posted_at: iso(p.ts),
    stored_at: p.createdAt ? iso(p.createdAt) : null,
    public: p.public,
    ...(p.group !== undefined ? { group: p.group, epoch: p.epoch } : {}),
    ...(p.text !== undefined ? { text: p.text } : {}),
    attachments: p.attachments.map((a) => ({
      ...(a.name !== undefined ? { name: a.name } : {}),
      mime: a.mime,
      size: a.size,
    })),
  };
}

/** A post as `watch` and `feed` print it for people. */
export function postBlock(p: Post, groupName?: string | null): string {
  const audience = p.public ? "public" : `group ${groupName ? `"${oneLine(groupName)}"` : p.group}`;
  const lines = [`${formatTime(p.ts)}  ${p.author}  (${audience}, post ${p.id})`];
  if (p.text !== undefined) for (const l of oneLineBlocks(p.text)) lines.push(`  ${l}`);
  p.attachments.forEach((a, i) =>
    lines.push(
      `  [${i + 1}] ${a.name !== undefined ? oneLine(a.name) : "file"}, ${formatSize(a.size)}, ${oneLine(a.mime)}`,
    ),
  );
  if (p.attachments.length > 0) lines.push(`  people download ${p.id} --author ${p.author} [--index n]`);
  return lines.join("\n");
}

function oneLineBlocks(text: string): string[] {
  return text.split(/\r?\n/).map((l) => oneLine(l));
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
