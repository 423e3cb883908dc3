// Pure converters of the feed rooms (no IO): a post into the Matrix events its
// author's ghost sends, an edit into m.replace, the room's name; and the other
// way, a reply or a reaction in a feed room into the People message that
// answers the post (PROTOCOL §11.2 "Answering a post").
import { z } from "zod";
import type { Post } from "../../people/client/post-types.js";
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { BlobRef, MessageContent } from "../../people/protocol/messages.js";
import { MAX_TEXT } from "../../people/protocol/messages.js";
import { relatesToSchema } from "../model/matrix-content.js";
import { stripPlainReplyFallback } from "../model/reply-fallback.js";

/** Longest display name put into a room name. */
const MAX_NAME = 200;
/** Well inside Matrix's 64 KiB event, with room for the rest of the content. */
const MAX_BODY = 48_000;

/** "Joe's posts", from the profile's name, else the address. */
export function feedRoomName(author: PeopleAddress, displayName: string | undefined): string {
  const name = (displayName?.replace(/\s+/g, " ").trim() || author).slice(0, MAX_NAME);
  return `${name}'s posts`;
}

/**
 * One event of a post: its text, or one attachment (the first one carries the text as caption),
 * with the attachment's thumbnail when the author gave one (a video's first frame).
 */
export type PostPart =
  { kind: "text"; body: string } | { kind: "media"; blob: BlobRef; thumbnail?: BlobRef; caption?: string };

export function postParts(post: Pick<Post, "text" | "attachments">): PostPart[] {
  const text = post.text?.trim() ? post.text.slice(0, MAX_BODY) : undefined;
  if (post.attachments.length === 0) return text ? [{ kind: "text", body: text }] : [];
  return post.attachments.map(({ thumbnail, ...blob }, i) => ({
    kind: "media",
    blob,
    ...(thumbnail ? { thumbnail } : {}),
    ...(i === 0 && text ? { caption: text } : {}),
  }));
}

/** An edit of the post's first event: its new text (or a note that only its files changed). */
export function editContent(
  target: string,
  post: Pick<Post, "text" | "attachments">,
): Record<string, unknown> {
  const body = post.text?.trim() ? post.text.slice(0, MAX_BODY) : "(the post's attachments were changed)";
  const content = { msgtype: "m.text", body };
  return {
    ...content,
    body: `* ${body}`,
    "m.new_content": content,
    "m.relates_to": { rel_type: "m.replace", event_id: target },
  };
}

const replySchema = z.object({
  msgtype: z.enum(["m.text", "m.notice", "m.emote"]),
  body: z.string(),
  "m.relates_to": relatesToSchema.optional(),
});

const reactionSchema = z.object({
  "m.relates_to": z.object({
    rel_type: z.literal("m.annotation"),
    event_id: z.string(),
    key: z.string().min(1).max(256),
  }),
});

/** What a Matrix user's event in a feed room asks for. */
export type FeedAnswer =
  /** A reply (to the event `target`) or a reaction: the post is looked up by the event. */
  | { kind: "reply"; target: string; body: string }
  | { kind: "reaction"; target: string; key: string }
  /** Not an answer to a post: the user is told what a feed room takes. */
  | { kind: "unanswerable"; why: string }
  /** Edits, redactions and the like: nothing to do. */
  | { kind: "none" };

export const NOT_A_REPLY =
  "Reply to a post (or react to it) to answer it; your answer goes to its author. " +
  "To write to them otherwise, use your direct chat with them.";

export function feedAnswerOf(type: string, content: Readonly<Record<string, unknown>>): FeedAnswer {
  if (type === "m.reaction") {
    const r = reactionSchema.safeParse(content);
    if (!r.success) return { kind: "none" };
    return { kind: "reaction", target: r.data["m.relates_to"].event_id, key: r.data["m.relates_to"].key };
  }
  if (type !== "m.room.message") return { kind: "none" };
  const rel = relatesToSchema.safeParse(content["m.relates_to"] ?? {});
  if (rel.success && rel.data.rel_type === "m.replace") return { kind: "none" };
  const m = replySchema.safeParse(content);
  if (!m.success) return { kind: "unanswerable", why: "Only text answers a post from a feed room." };
  const target = m.data["m.relates_to"]?.["m.in_reply_to"]?.event_id;
  if (!target) return { kind: "unanswerable", why: NOT_A_REPLY };
  const body = stripPlainReplyFallback(m.data.body).trim();
  if (!body) return { kind: "unanswerable", why: "The reply is empty." };
  return { kind: "reply", target, body: body.slice(0, MAX_TEXT) };
}

/** The People message that answers `postId` of `author`. */
export function answerContent(
  answer: Extract<FeedAnswer, { kind: "reply" | "reaction" }>,
  author: PeopleAddress,
  postId: string,
): MessageContent {
  const post = { author, post_id: postId };
  return answer.kind === "reply"
    ? { type: "text", body: answer.body, in_reply_to_post: post }
    : { type: "post_reaction", post, key: answer.key };
}
