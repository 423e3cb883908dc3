// Matrix event content → People message content. Pure: the message id map
// is a lookup function, media bytes move elsewhere (an attachment comes back
// as a placeholder the bridge uploads, then attachmentToPeople). Every result
// is a value: People content, an attachment placeholder, or Unbridgeable.
//
// Mapping decisions:
// - m.text and m.notice → text; m.emote → text with a "* " prefix (People has
//   no emote; "* waves" reads right and needs no schema change).
// - Replies → reply_to; the plain "> <@user> …" fallback and <mx-reply> are
//   stripped. A reply to an event that was never bridged is a plain message.
//   A thread message is a reply to its in-reply-to event (when not a
//   fallback) or else to the thread root: People has no threads.
// - Edits (m.replace) carry m.new_content's body and HTML; edits, reactions
//   and redactions of unknown events are Unbridgeable. Media edits are not
//   bridged (People edits carry text only).
// - Receipts: only public m.read (never m.read.private) of one user.
// - Stickers and voice messages (MSC3245) are attachments with a `kind`;
//   locations and polls become texts (matrix-extras-to-people.ts).
import { contentSchema, type BlobRef, type MessageContent } from "../../people/protocol/messages.js";
import type { MessageId } from "../../people/protocol/ids.js";
import { normalizeText } from "./formatted-text.js";
import { MAX_HTML, MAX_SHORT_TEXT, MAX_TEXT, cleanFileName, truncateText, utf16Length } from "./limits.js";
import {
  HTML_FORMAT,
  MEDIA_MSGTYPES,
  TEXT_MSGTYPES,
  describeIssue,
  mediaContentSchema,
  messageContentSchema,
  reactionContentSchema,
  receiptContentSchema,
  receiptEntrySchema,
  redactionSchema,
  stickerContentSchema,
  textContentSchema,
  typingContentSchema,
  type EncryptedFile,
  type MatrixMediaInfo,
  type MatrixRelatesToIn,
} from "./matrix-content.js";
import { isMatrixEventId, type MatrixEventId, type MatrixUserId, type MxcUri } from "./matrix-ids.js";
import {
  locationToPeople,
  pollEndToPeople,
  pollStartToPeople,
  voiceOf,
  type PollHistory,
  type Voice,
} from "./matrix-extras-to-people.js";
import { POLL_END_TYPES, POLL_START_TYPES } from "./polls.js";
import { stripPlainReplyFallback } from "./reply-fallback.js";
import { MAX_THUMBNAIL_BYTES, isThumbnailMime } from "./thumbnails.js";
import { unbridgeable, type Unbridgeable } from "./unbridgeable.js";

export interface MatrixEventInput {
  type: string;
  content: unknown;
  /** Top-level `redacts` of m.room.redaction in room versions before 11. */
  redacts?: unknown;
  /** The homeserver's timestamp: a poll's end counts the votes sent before it. */
  originServerTs?: number;
}

export interface MatrixToPeopleContext {
  /** The People message id a Matrix event was bridged as, if it was. */
  peopleIdOf(eventId: MatrixEventId): MessageId | undefined;
  /** A poll and its votes as the homeserver has them (read for a poll's end), when it could tell. */
  pollOf?(eventId: MatrixEventId): PollHistory | undefined;
}

export interface PeopleContent {
  kind: "content";
  content: MessageContent;
}

/** Media on Matrix to fetch (and decrypt, when `encrypted`) before upload to People. */
export interface MediaPlaceholder {
  mxc: MxcUri;
  encrypted?: EncryptedFile;
  mime: string;
  /** As the sender claimed; the real size is the downloaded one. */
  size?: number;
  width?: number;
  height?: number;
}

export interface AttachmentPlaceholder extends MediaPlaceholder {
  kind: "attachment";
  name?: string;
  duration_ms?: number;
  caption?: string;
  reply_to?: MessageId;
  thumbnail?: MediaPlaceholder;
  /** A voice message (MSC3245) or a sticker: People's attachment `kind`. */
  shownAs?: "voice" | "sticker";
  waveform?: number[];
}

export type ToPeople = PeopleContent | AttachmentPlaceholder | Unbridgeable;

/** What the bridge knows after uploading the encrypted bytes to its People server. */
export interface BlobUpload {
  server: string;
  id: string;
  key: string;
  hash: string;
  size: number;
}

/** How long a People device shows "typing" without a refresh; Matrix reports the stop itself. */
export const TYPING_TIMEOUT_MS = 120_000;
const MAX_RECEIPT_TARGETS = 100;
const PEOPLE_TEXT = { body: MAX_TEXT, html: MAX_HTML, measure: utf16Length };

/** The final check: what leaves here always passes the protocol's own schema. */
function done(content: MessageContent): PeopleContent | Unbridgeable {
  const checked = contentSchema.safeParse(content);
  if (!checked.success) return unbridgeable("invalid_content", `result: ${describeIssue(checked.error)}`);
  return { kind: "content", content: checked.data };
}

function checked(result: MessageContent | Unbridgeable): PeopleContent | Unbridgeable {
  return "type" in result ? done(result) : result;
}

function invalid(what: string, error: Parameters<typeof describeIssue>[0]): Unbridgeable {
  return unbridgeable("invalid_content", `${what}: ${describeIssue(error)}`);
}

function replyTarget(rel: MatrixRelatesToIn | undefined, ctx: MatrixToPeopleContext): MessageId | undefined {
  const inReplyTo = rel?.["m.in_reply_to"]?.event_id;
  let target = inReplyTo;
  if (rel?.rel_type === "m.thread") target = inReplyTo && !rel.is_falling_back ? inReplyTo : rel.event_id;
  return target === undefined ? undefined : ctx.peopleIdOf(target);
}

function textOf(parsed: { msgtype: string; body: string; format?: string; formatted_body?: string }) {
  const html = parsed.format === HTML_FORMAT ? parsed.formatted_body : undefined;
  const empty = parsed.body.trim() === "" && (html === undefined || html.trim() === "");
  const emote = parsed.msgtype === "m.emote";
  const body = emote && parsed.body.trim() !== "" ? `* ${parsed.body}` : parsed.body;
  const text = normalizeText({ body, html: emote && html !== undefined ? `* ${html}` : html }, PEOPLE_TEXT);
  return { empty: empty || (text.body.trim() === "" && text.html === undefined), text };
}

function textMessage(content: unknown, rel: MatrixRelatesToIn | undefined, ctx: MatrixToPeopleContext) {
  const parsed = textContentSchema.safeParse(content);
  if (!parsed.success) return invalid("m.room.message", parsed.error);
  const isReply = rel?.["m.in_reply_to"] !== undefined;
  const body = isReply ? stripPlainReplyFallback(parsed.data.body) : parsed.data.body;
  const { empty, text } = textOf({ ...parsed.data, body });
  if (empty) return unbridgeable("nothing_to_bridge", "empty message");
  const reply_to = replyTarget(rel, ctx);
  return done({ type: "text", ...text, ...(reply_to && { reply_to }) });
}

function edit(newContent: unknown, rel: MatrixRelatesToIn, ctx: MatrixToPeopleContext): ToPeople {
  if (rel.event_id === undefined) return unbridgeable("invalid_content", "m.replace without event_id");
  const target = ctx.peopleIdOf(rel.event_id);
  if (target === undefined) return unbridgeable("unknown_target", "edit of an event that was not bridged");
  const parsed = textContentSchema.safeParse(newContent);
  if (!parsed.success) {
    const msgtype = (newContent as { msgtype?: unknown } | null)?.msgtype;
    if (MEDIA_MSGTYPES.some((m) => m === msgtype)) return unbridgeable("unsupported_type", "edit of media");
    return invalid("m.new_content", parsed.error);
  }
  const { empty, text } = textOf(parsed.data);
  if (empty) return unbridgeable("nothing_to_bridge", "edit to an empty message");
  return done({ type: "edit", target, ...text });
}

const MIME = /^[\w.+-]+\/[\w.+-]+$/;
function normalizeMime(mime: string | undefined, fallback: string): string {
  const bare = mime?.split(";")[0]?.trim().toLowerCase();
  return bare !== undefined && bare.length <= 255 && MIME.test(bare) ? bare : fallback;
}

function thumbnailOf(info: MatrixMediaInfo | undefined): MediaPlaceholder | undefined {
  const file = info?.thumbnail_file;
  const mxc = file?.url ?? info?.thumbnail_url;
  if (mxc === undefined) return undefined;
  const t = info?.thumbnail_info;
  const mime = normalizeMime(t?.mimetype, "application/octet-stream");
  if (!isThumbnailMime(mime) || (t?.size !== undefined && t.size > MAX_THUMBNAIL_BYTES)) return undefined;
  return {
    mxc,
    ...(file && { encrypted: file }),
    mime,
    ...(t?.size !== undefined && { size: t.size }),
    ...(t?.w !== undefined && { width: t.w }),
    ...(t?.h !== undefined && { height: t.h }),
  };
}

function placeholder(
  source: { mxc: MxcUri; encrypted?: EncryptedFile },
  info: MatrixMediaInfo | undefined,
  fields: { name?: string; caption?: string; reply_to?: MessageId; mime: string } & Voice,
): AttachmentPlaceholder {
  const name = fields.name === undefined ? undefined : cleanFileName(fields.name);
  const caption = fields.caption?.trim() ? truncateText(fields.caption, MAX_TEXT) : undefined;
  const thumbnail = thumbnailOf(info);
  return {
    kind: "attachment",
    ...source,
    mime: fields.mime,
    ...(info?.size !== undefined && { size: info.size }),
    ...(info?.w !== undefined && { width: info.w }),
    ...(info?.h !== undefined && { height: info.h }),
    ...(info?.duration !== undefined && { duration_ms: info.duration }),
    ...(name && { name }),
    ...(caption && { caption }),
    ...(fields.reply_to && { reply_to: fields.reply_to }),
    ...(thumbnail && { thumbnail }),
    ...(fields.shownAs && { shownAs: fields.shownAs }),
    ...(fields.waveform && { waveform: fields.waveform }),
    ...(fields.duration_ms !== undefined &&
      info?.duration === undefined && { duration_ms: fields.duration_ms }),
  };
}

function mediaMessage(content: unknown, rel: MatrixRelatesToIn | undefined, ctx: MatrixToPeopleContext) {
  const parsed = mediaContentSchema.safeParse(content);
  if (!parsed.success) return invalid("m.room.message", parsed.error);
  const { body, filename, url, file, info } = parsed.data;
  // Since Matrix 1.10 a `filename` different from `body` makes `body` a caption.
  const caption = filename !== undefined && filename !== body ? body : undefined;
  const source = file ? { mxc: file.url, encrypted: file } : { mxc: url! };
  const reply_to = replyTarget(rel, ctx);
  return placeholder(source, info, {
    name: filename ?? body,
    mime: normalizeMime(info?.mimetype, "application/octet-stream"),
    ...(caption !== undefined && { caption }),
    ...(reply_to && { reply_to }),
    ...voiceOf(parsed.data),
  });
}

function roomMessage(content: unknown, ctx: MatrixToPeopleContext): ToPeople {
  const parsed = messageContentSchema.safeParse(content);
  if (!parsed.success) return invalid("m.room.message", parsed.error);
  const { msgtype } = parsed.data;
  const rel = parsed.data["m.relates_to"];
  if (rel?.rel_type === "m.replace") {
    if (parsed.data["m.new_content"] === undefined)
      return unbridgeable("invalid_content", "edit without m.new_content");
    return edit(parsed.data["m.new_content"], rel, ctx);
  }
  if (TEXT_MSGTYPES.some((m) => m === msgtype)) return textMessage(content, rel, ctx);
  if (MEDIA_MSGTYPES.some((m) => m === msgtype)) return mediaMessage(content, rel, ctx);
  if (msgtype === "m.location") return checked(locationToPeople(content, replyTarget(rel, ctx)));
  return unbridgeable("unsupported_type", "unsupported msgtype");
}

function sticker(content: unknown): ToPeople {
  const parsed = stickerContentSchema.safeParse(content);
  if (!parsed.success) return invalid("m.sticker", parsed.error);
  const { body, url, info } = parsed.data;
  const mime = normalizeMime(info?.mimetype, "image/png");
  return placeholder({ mxc: url }, info, { caption: body, mime, shownAs: "sticker" });
}

function reaction(content: unknown, ctx: MatrixToPeopleContext): ToPeople {
  const parsed = reactionContentSchema.safeParse(content);
  if (!parsed.success) return invalid("m.reaction", parsed.error);
  const { event_id, key } = parsed.data["m.relates_to"];
  if (key.length > MAX_SHORT_TEXT) return unbridgeable("too_large", "reaction key longer than People allows");
  const target = ctx.peopleIdOf(event_id);
  if (target === undefined)
    return unbridgeable("unknown_target", "reaction to an event that was not bridged");
  return done({ type: "reaction", target, key });
}

function redaction(event: MatrixEventInput, ctx: MatrixToPeopleContext): ToPeople {
  const content: unknown = event.content;
  const inner = typeof content === "object" && content !== null ? content : {};
  const parsed = redactionSchema.safeParse({ redacts: event.redacts, ...inner });
  if (!parsed.success) return invalid("m.room.redaction", parsed.error);
  const target = ctx.peopleIdOf(parsed.data.redacts);
  if (target === undefined)
    return unbridgeable("unknown_target", "redaction of an event that was not bridged");
  const reason = parsed.data.reason?.trim() ? truncateText(parsed.data.reason, MAX_SHORT_TEXT) : undefined;
  return done({ type: "redaction", target, ...(reason && { reason }) });
}

/** A room event (m.room.message, m.sticker, m.reaction, m.room.redaction) as People content. */
export function matrixEventToPeople(event: MatrixEventInput, ctx: MatrixToPeopleContext): ToPeople {
  if (typeof event !== "object" || event === null || typeof event.type !== "string") {
    return unbridgeable("invalid_content", "event without a type");
  }
  switch (event.type) {
    case "m.room.message":
      return roomMessage(event.content, ctx);
    case "m.sticker":
      return sticker(event.content);
    case "m.reaction":
      return reaction(event.content, ctx);
    case "m.room.redaction":
      return redaction(event, ctx);
    case POLL_START_TYPES[0]:
    case POLL_START_TYPES[1]:
      return checked(pollStartToPeople(event.content));
    case POLL_END_TYPES[0]:
    case POLL_END_TYPES[1]: {
      const content = (typeof event.content === "object" && event.content) || {};
      return checked(pollEndToPeople(content as Record<string, unknown>, event.originServerTs, ctx));
    }
    default:
      return unbridgeable("unsupported_type", "unsupported event type");
  }
}

/** One user's public read receipts from an m.receipt EDU, for the events that were bridged. */
export function matrixReceiptToPeople(
  content: unknown,
  user: MatrixUserId,
  ctx: MatrixToPeopleContext,
): ToPeople {
  const parsed = receiptContentSchema.safeParse(content);
  if (!parsed.success) return invalid("m.receipt", parsed.error);
  let mine = 0;
  const targets: MessageId[] = [];
  for (const [eventId, entry] of Object.entries(parsed.data)) {
    const read = receiptEntrySchema.safeParse(entry);
    if (!isMatrixEventId(eventId) || !read.success || !Object.hasOwn(read.data["m.read"] ?? {}, user))
      continue;
    mine++;
    const target = ctx.peopleIdOf(eventId);
    if (target !== undefined && !targets.includes(target)) targets.push(target);
  }
  if (mine === 0) return unbridgeable("nothing_to_bridge", "no public read receipt of this user");
  if (targets.length === 0) return unbridgeable("unknown_target", "receipts only for events not bridged");
  return done({ type: "receipt", targets: targets.slice(-MAX_RECEIPT_TARGETS) });
}

/** One user's typing state from an m.typing EDU (which lists everyone typing in the room). */
export function matrixTypingToPeople(content: unknown, user: MatrixUserId): ToPeople {
  const parsed = typingContentSchema.safeParse(content);
  if (!parsed.success) return invalid("m.typing", parsed.error);
  const active = parsed.data.user_ids.includes(user);
  return done({ type: "typing", active, timeout_ms: active ? TYPING_TIMEOUT_MS : 0 });
}

function blobRef(upload: BlobUpload, media: MediaPlaceholder, extra: Partial<BlobRef>): BlobRef {
  return {
    server: upload.server,
    id: upload.id,
    key: upload.key,
    hash: upload.hash,
    mime: media.mime,
    size: upload.size,
    ...(media.width !== undefined && { width: media.width }),
    ...(media.height !== undefined && { height: media.height }),
    ...extra,
  };
}

/** The People attachment once the bridge uploaded the media (and its thumbnail, if any). */
export function attachmentToPeople(
  placeholder: AttachmentPlaceholder,
  upload: BlobUpload,
  thumbnailUpload?: BlobUpload,
): PeopleContent | Unbridgeable {
  const blob = blobRef(upload, placeholder, {
    ...(placeholder.name !== undefined && { name: placeholder.name }),
    ...(placeholder.duration_ms !== undefined && { duration_ms: placeholder.duration_ms }),
  });
  const thumb = placeholder.thumbnail;
  const thumbnail = thumb && thumbnailUpload ? blobRef(thumbnailUpload, thumb, {}) : undefined;
  return done({
    type: "attachment",
    blob,
    ...(thumbnail && { thumbnail }),
    ...(placeholder.caption !== undefined && { caption: placeholder.caption }),
    ...(placeholder.reply_to !== undefined && { reply_to: placeholder.reply_to }),
    ...(placeholder.shownAs !== undefined && { kind: placeholder.shownAs }),
    ...(placeholder.waveform !== undefined && { waveform: placeholder.waveform }),
  });
}
