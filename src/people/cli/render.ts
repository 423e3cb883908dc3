// Messages as the program shows them. The JSON form is for scripts and never
// carries a key: an attachment is described by name, type and size (the blob
// key stays in the store, and `people download <id>` uses it there).
import type { InboxEntry } from "../client/local-store.js";
import { ATTACHMENT_KINDS, type MessageContent } from "../protocol/messages.js";
import { clean, formatSize, formatTime, iso, oneLine } from "./output.js";

export interface MessageJson {
  id: string;
  seq: number;
  from: string;
  device: string;
  to: string[];
  sent_at: string;
  received_at: string;
  outgoing: boolean;
  type: MessageContent["type"];
  text?: string;
  html?: string;
  reply_to?: string;
  /** The post a message answers: "author/post id". */
  in_reply_to_post?: { author: string; post_id: string };
  target?: string;
  reaction?: string;
  reason?: string;
  caption?: string;
  attachment?: { name?: string; mime: string; size: number; server: string; kind?: string };
}

/** What people write to each other; group keys, post notices, call signalling and the like are the client's own. */
const CONVERSATION = new Set<MessageContent["type"]>([
  "text",
  "edit",
  "reaction",
  "redaction",
  "attachment",
  "post_reaction",
]);

export function isConversation(m: InboxEntry): boolean {
  return CONVERSATION.has(m.content.type);
}

export function messageJson(m: InboxEntry): MessageJson {
  const base: MessageJson = {
    id: m.id,
    seq: m.seq,
    from: m.from,
    device: m.device,
    to: m.to,
    sent_at: iso(m.ts),
    received_at: iso(m.receivedAt),
    outgoing: m.outgoing,
    type: m.content.type,
  };
  const c = m.content;
  switch (c.type) {
    case "text":
      return {
        ...base,
        text: c.body,
        ...(c.html !== undefined ? { html: c.html } : {}),
        ...(c.reply_to ? { reply_to: c.reply_to } : {}),
        ...(c.in_reply_to_post ? { in_reply_to_post: c.in_reply_to_post } : {}),
      };
    case "post_reaction":
      return { ...base, in_reply_to_post: c.post, reaction: c.key };
    case "edit":
      return { ...base, target: c.target, text: c.body };
    case "reaction":
      return { ...base, target: c.target, reaction: c.key };
    case "redaction":
      return { ...base, target: c.target, ...(c.reason !== undefined ? { reason: c.reason } : {}) };
    case "attachment":
      return {
        ...base,
        attachment: {
          ...(c.blob.name !== undefined ? { name: c.blob.name } : {}),
          mime: c.blob.mime,
          size: c.blob.size,
          server: c.blob.server,
          ...(c.kind !== undefined ? { kind: c.kind } : {}),
        },
        ...(c.caption !== undefined ? { caption: c.caption } : {}),
        ...(c.reply_to ? { reply_to: c.reply_to } : {}),
      };
    default:
      // Group keys, call set-up, tokens: nothing a script should print, keys least of all.
      return base;
  }
}

/** One line summing up the content, cleaned for a terminal. */
export function summary(content: MessageContent): string {
  switch (content.type) {
    case "text":
      return `${postPrefix(content.in_reply_to_post)}${oneLine(content.body)}`;
    case "post_reaction":
      return `${postPrefix(content.post)}(reaction ${oneLine(content.key)})`;
    case "edit":
      return `(edit of ${content.target}) ${oneLine(content.body)}`;
    case "reaction":
      return `(reaction ${oneLine(content.key)} to ${content.target})`;
    case "redaction":
      return `(deleted ${content.target})`;
    case "attachment": {
      const name = content.blob.name !== undefined ? oneLine(content.blob.name) : "attachment";
      const caption = content.caption ? ` ${oneLine(content.caption)}` : "";
      // A kind this client does not know shows as the plain file it is.
      const known = ATTACHMENT_KINDS.find((k) => k === content.kind);
      const kind = known ? `${known}: ` : "";
      return `[${kind}${name}, ${formatSize(content.blob.size)}, ${oneLine(content.blob.mime)}]${caption}`;
    }
    default:
      return `(${content.type})`;
  }
}

/** A message as `watch` prints it for people: a header line, then the text indented. */
export function messageBlock(m: InboxEntry): string {
  const header = `${formatTime(m.receivedAt)}  ${oneLine(m.from)}  (${m.id})`;
  const c = m.content;
  let body: string;
  if (c.type === "text" || c.type === "edit") {
    body = clean(c.body)
      .split(/\r?\n/)
      .map((l) => `  ${l}`)
      .join("\n");
    if (c.type === "edit") body = `  (edit of ${c.target})\n${body}`;
    if (c.type === "text" && c.in_reply_to_post) body = `  ${postPrefix(c.in_reply_to_post)}\n${body}`;
  } else {
    body = `  ${summary(c)}`;
    if (c.type === "attachment") body += `\n  people download ${m.id}`;
  }
  return `${header}\n${body}`;
}

/** "(re your post <id>) " for a message that answers a post: such answers go to the post's author alone. */
function postPrefix(ref: { author: string; post_id: string } | undefined): string {
  return ref ? `(re your post ${ref.post_id}) ` : "";
}
