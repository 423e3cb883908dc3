// Pure converter of the post rooms (no IO): what the owner's Matrix event in a
// post room asks for. A text or a file is a new post (a file's caption its
// text), an m.replace an edit of the post the target became, a redaction its
// retraction. Anything else is told why it was not posted, or left alone
// (reactions, receipts: nothing a post carries).
import { z } from "zod";
import { MAX_GROUP_TOPIC, MAX_TEXT } from "../../people/protocol/messages.js";
import { relatesToSchema, TEXT_MSGTYPES } from "../model/matrix-content.js";
import {
  matrixEventToPeople,
  type AttachmentPlaceholder,
  type MatrixEventInput,
} from "../model/matrix-to-people.js";
import { stripPlainReplyFallback } from "../model/reply-fallback.js";

export type PostRoomAction =
  | { kind: "text"; text: string }
  | { kind: "media"; media: AttachmentPlaceholder }
  | { kind: "edit"; target: string; text: string }
  | { kind: "retract"; target: string }
  /** Not posted; the owner is told `why`. */
  | { kind: "unpostable"; why: string }
  /** Nothing for a post (reactions and the like). */
  | { kind: "none" };

export const NOT_POSTABLE = "Only text and files (images, video, audio) become posts.";

const textSchema = z.object({ msgtype: z.string(), body: z.string() });
const editSchema = z.object({
  "m.new_content": z.object({ body: z.string() }),
  "m.relates_to": z.object({ rel_type: z.literal("m.replace"), event_id: z.string().min(1) }),
});

function postText(body: string): PostRoomAction {
  const text = stripPlainReplyFallback(body).trim();
  if (!text) return { kind: "unpostable", why: "An empty message makes no post." };
  if (text.length > MAX_TEXT) return { kind: "unpostable", why: "The message is too long for a post." };
  return { kind: "text", text };
}

export function postRoomActionOf(event: MatrixEventInput): PostRoomAction {
  const content = (event.content ?? {}) as Record<string, unknown>;
  if (event.type === "m.room.redaction") {
    const target = typeof event.redacts === "string" ? event.redacts : content.redacts;
    return typeof target === "string" && target ? { kind: "retract", target } : { kind: "none" };
  }
  if (event.type !== "m.room.message" && event.type !== "m.sticker") return { kind: "none" };
  const rel = relatesToSchema.safeParse(content["m.relates_to"] ?? {});
  if (rel.success && rel.data.rel_type === "m.replace") {
    const edit = editSchema.safeParse(content);
    if (!edit.success) return { kind: "unpostable", why: "That edit has no new text to post." };
    const text = postText(edit.data["m.new_content"].body);
    if (text.kind !== "text") return text;
    return { kind: "edit", target: edit.data["m.relates_to"].event_id, text: text.text };
  }
  const message = textSchema.safeParse(content);
  if (event.type === "m.room.message" && !message.success) return { kind: "unpostable", why: NOT_POSTABLE };
  if (message.success && TEXT_MSGTYPES.some((t) => t === message.data.msgtype))
    return postText(message.data.body);
  const converted = matrixEventToPeople(event, { peopleIdOf: () => undefined });
  if (converted.kind === "attachment") return { kind: "media", media: converted };
  return { kind: "unpostable", why: NOT_POSTABLE };
}

/** A post group room's topic or picture as the group's details: what the owner's state event sets. */
export type GroupDetailsChange =
  { kind: "topic"; topic: string } | { kind: "avatar"; mxc: string; mime: string } | { kind: "no-avatar" };

const topicSchema = z.object({ topic: z.string() });
const avatarSchema = z.object({
  url: z.string().regex(/^mxc:\/\/[^/]+\/[^/]+$/),
  info: z.object({ mimetype: z.string().optional() }).optional(),
});

/** Undefined when the event changes nothing a group carries (or is malformed). */
export function groupDetailsOf(
  type: string,
  content: Readonly<Record<string, unknown>>,
): GroupDetailsChange | undefined {
  if (type === "m.room.topic") {
    const t = topicSchema.safeParse(content);
    // No topic member (or a removed one) clears it, as Matrix clients do.
    return { kind: "topic", topic: t.success ? t.data.topic.trim().slice(0, MAX_GROUP_TOPIC) : "" };
  }
  if (type !== "m.room.avatar") return undefined;
  if (content.url === undefined || content.url === "") return { kind: "no-avatar" };
  const a = avatarSchema.safeParse(content);
  if (!a.success) return undefined;
  const mime = a.data.info?.mimetype ?? "image/png";
  // The group's picture is a raster image; another type is not carried.
  if (!/^image\/[\w.+-]+$/.test(mime) || mime === "image/svg+xml") return undefined;
  return { kind: "avatar", mxc: a.data.url, mime };
}
