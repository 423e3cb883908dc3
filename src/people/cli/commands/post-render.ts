// A post as the commands print it: JSON for scripts, a block for people.
import type { Post } from "../../client/people-client.js";
import { formatSize, formatTime, iso, oneLine } from "../output.js";

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
    ...(p.replaces !== undefined ? { replaces: p.replaces } : {}),
    ...(p.retracts !== undefined ? { retracts: p.retracts } : {}),
    attachments: p.attachments.map((a) => ({
      ...(a.name !== undefined ? { name: a.name } : {}),
      mime: a.mime,
      size: a.size,
      ...(a.thumbnail
        ? { thumbnail: { mime: a.thumbnail.mime, width: a.thumbnail.width, height: a.thumbnail.height } }
        : {}),
    })),
  };
}

/** A post as `watch` and `feed` print it for people. */
export function postBlock(p: Post, groupName?: string | null): string {
  const audience = p.public ? "public" : `group ${groupName ? `"${oneLine(groupName)}"` : p.group}`;
  const lines = [`${formatTime(p.ts)}  ${p.author}  (${audience}, post ${p.id})`];
  if (p.replaces !== undefined) lines.push(`  (edit of post ${p.replaces})`);
  if (p.retracts !== undefined) lines.push(`  (post ${p.retracts} withdrawn)`);
  if (p.text !== undefined) for (const l of oneLineBlocks(p.text)) lines.push(`  ${l}`);
  p.attachments.forEach((a, i) =>
    lines.push(
      `  [${i + 1}] ${a.name !== undefined ? oneLine(a.name) : "file"}, ${formatSize(a.size)}, ${oneLine(a.mime)}` +
        (a.thumbnail ? `, thumbnail ${a.thumbnail.width}×${a.thumbnail.height}` : ""),
    ),
  );
  if (p.attachments.length > 0) lines.push(`  people download ${p.id} --author ${p.author} [--index n]`);
  return lines.join("\n");
}

function oneLineBlocks(text: string): string[] {
  return text.split(/\r?\n/).map((l) => oneLine(l));
}
