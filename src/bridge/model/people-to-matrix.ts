// People message content → what the bridge sends to Matrix. Pure: the
// message id map is a lookup function; an attachment first comes back as a
// "transfer" (the bridge moves the bytes to the media repository), then
// attachmentToMatrix builds the event around the mxc URI (or encrypted file).
//
// Mapping decisions:
// - text → m.text (People has no notice or emote: an emote sent from Matrix
//   comes back as m.text "* waves"); HTML is sanitized again and a plain body
//   derived when the People body is empty.
// - reply_to → m.relates_to.m.in_reply_to, without a fallback (current spec);
//   an unknown target makes a plain message.
// - edit → "* " fallback body plus m.new_content and m.replace; unknown target
//   is Unbridgeable, like reactions and redactions of unknown messages.
// - Sizes: one event's content is kept under MAX_MATRIX_CONTENT_BYTES (Matrix
//   refuses events over 64 KiB), cutting text with a marker.
// - Types the bridge handles elsewhere (calls, posts, keys) are Unbridgeable here.
// - A text that is only a location (location.ts) → m.location; a text in
//   reply to a bridged poll that names its options (polls.ts) → the ghost's vote.
// - An attachment of kind "sticker" (an image, in a room without encryption)
//   → m.sticker; of kind "voice" (audio) → m.audio with MSC3245's flag;
//   an unknown kind → the plain file its mime says.
import { contentSchema, type BlobRef, type MessageContent } from "../../people/protocol/messages.js";
import type { MessageId } from "../../people/protocol/ids.js";
import { fitBudget, normalizeText, type FormattedText } from "./formatted-text.js";
import { MAX_MATRIX_CONTENT_BYTES, cleanFileName, jsonBytes, truncateText } from "./limits.js";
import {
  HTML_FORMAT,
  describeIssue,
  type MatrixMediaContent,
  type MatrixMediaInfoOut,
  type MatrixMediaMsgtype,
  type MatrixLocationContent,
  type MatrixMediaSource,
  type MatrixStickerContent,
  type MatrixReactionContent,
  type MatrixRelatesTo,
  type MatrixTextContent,
  AUDIO_FIELD,
  VOICE_FLAG,
} from "./matrix-content.js";
import { formatGeoUri, locationText, parseLocationText } from "./location.js";
import { matchPollAnswer, pollResponse, type Poll, type PollResponseType } from "./polls.js";
import type { MatrixEventId } from "./matrix-ids.js";
import { MAX_THUMBNAIL_BYTES, isThumbnailMime, msgtypeHasThumbnail } from "./thumbnails.js";
import { unbridgeable, type Unbridgeable } from "./unbridgeable.js";

export interface PeopleToMatrixContext {
  /** The Matrix event a People message was bridged as, if it was. */
  matrixIdOf(messageId: MessageId): MatrixEventId | undefined;
  /** Byte budget of one event's content; defaults to MAX_MATRIX_CONTENT_BYTES. */
  maxContentBytes?: number;
  /** The poll a (bridged) Matrix event started, for a reply that may be a vote. */
  pollOf?(eventId: MatrixEventId): Poll | undefined;
}

export type ToMatrix =
  | {
      kind: "event";
      type: "m.room.message";
      content: MatrixTextContent | MatrixMediaContent | MatrixLocationContent;
    }
  | { kind: "event"; type: "m.sticker"; content: MatrixStickerContent }
  /** A ghost's vote in a Matrix poll (`m.poll.response` or MSC3381's). */
  | { kind: "event"; type: PollResponseType; content: Record<string, unknown> }
  | { kind: "event"; type: "m.reaction"; content: MatrixReactionContent }
  | { kind: "redaction"; redacts: MatrixEventId; reason?: string }
  /** Read receipts: the bridge marks the latest of these read for the ghost. */
  | { kind: "receipt"; eventIds: MatrixEventId[] }
  | { kind: "typing"; active: boolean; timeoutMs: number }
  /** Fetch these blobs from People, upload them to Matrix, then call attachmentToMatrix. */
  | { kind: "transfer"; blob: BlobRef; thumbnail?: BlobRef }
  | Unbridgeable;

export type AttachmentContent = Extract<MessageContent, { type: "attachment" }>;

/** Where the bridge put the attachment (and its thumbnail) on Matrix. */
export interface UploadedMedia {
  media: MatrixMediaSource;
  thumbnail?: MatrixMediaSource;
}

/** Ids inside content that passed contentSchema are id16, the MessageId grammar. */
const messageId = (id: string): MessageId => id as MessageId;

/** Room for the JSON around the text: keys, msgtype, format, relation and event ids. */
const ENVELOPE_BYTES = 1024;

/** Bytes left for text in one event's content. */
function budgetOf(ctx: PeopleToMatrixContext): number {
  return (ctx.maxContentBytes ?? MAX_MATRIX_CONTENT_BYTES) - ENVELOPE_BYTES;
}

function matrixText(text: { body: string; html?: string | undefined }, budget: number): FormattedText {
  const limits = { body: budget, html: budget, measure: jsonBytes };
  return fitBudget(normalizeText(text, limits), budget, jsonBytes);
}

function textContent(text: FormattedText): MatrixTextContent {
  return {
    msgtype: "m.text",
    body: text.body,
    ...(text.html !== undefined && { format: HTML_FORMAT, formatted_body: text.html }),
  };
}

function replyRelation(replyTo: string | undefined, ctx: PeopleToMatrixContext): MatrixRelatesTo | undefined {
  const eventId = replyTo === undefined ? undefined : ctx.matrixIdOf(messageId(replyTo));
  return eventId === undefined ? undefined : { "m.in_reply_to": { event_id: eventId } };
}

function message(content: MatrixTextContent | MatrixMediaContent | MatrixLocationContent): ToMatrix {
  return { kind: "event", type: "m.room.message", content };
}

function isEmpty(text: FormattedText): boolean {
  return text.body.trim() === "" && text.html === undefined;
}

function target(id: string, ctx: PeopleToMatrixContext, what: string): MatrixEventId | Unbridgeable {
  return (
    ctx.matrixIdOf(messageId(id)) ??
    unbridgeable("unknown_target", `${what} of a message that was not bridged`)
  );
}

type Content<T extends MessageContent["type"]> = Extract<MessageContent, { type: T }>;
type Converter<T extends MessageContent["type"]> = (
  content: Content<T>,
  ctx: PeopleToMatrixContext,
) => ToMatrix;

/**
 * One converter per People type the features bridge into rooms (core/features: messages and
 * receipts); the flows ask the registry first, so other types never arrive here, and a unit test
 * keeps this table and the registry's `bridged` People types the same.
 */
export const PEOPLE_TO_MATRIX: {
  readonly [
    T in "text" | "edit" | "reaction" | "redaction" | "receipt" | "typing" | "attachment"
  ]: Converter<T>;
} = {
  text: (content, ctx) => {
    const text = matrixText(content, budgetOf(ctx));
    if (isEmpty(text)) return unbridgeable("nothing_to_bridge", "empty message");
    const rel = replyRelation(content.reply_to, ctx);
    const vote = rel && pollVote(content.body, rel["m.in_reply_to"]!.event_id, ctx);
    if (vote) return vote;
    const location = content.html === undefined ? parseLocationText(content.body) : undefined;
    if (location) {
      const uri = formatGeoUri(location.point);
      const body = locationText(location);
      return message({
        msgtype: "m.location",
        body,
        geo_uri: uri,
        "org.matrix.msc3488.location": {
          uri,
          ...(location.description && { description: location.description }),
        },
        "org.matrix.msc1767.text": body,
        ...(rel && { "m.relates_to": rel }),
      });
    }
    return message({ ...textContent(text), ...(rel && { "m.relates_to": rel }) });
  },
  edit: (content, ctx) => {
    const eventId = target(content.target, ctx, "edit");
    if (typeof eventId !== "string") return eventId;
    // The new text travels twice: in the "* " fallback and in m.new_content.
    const text = matrixText(content, Math.floor(budgetOf(ctx) / 2) - 8);
    if (isEmpty(text)) return unbridgeable("nothing_to_bridge", "edit to an empty message");
    const fallback = textContent({
      body: `* ${text.body}`,
      ...(text.html !== undefined && { html: `* ${text.html}` }),
    });
    return message({
      ...fallback,
      "m.new_content": textContent(text),
      "m.relates_to": { rel_type: "m.replace", event_id: eventId },
    });
  },
  reaction: (content, ctx) => {
    const eventId = target(content.target, ctx, "reaction");
    if (typeof eventId !== "string") return eventId;
    const rel = { rel_type: "m.annotation", event_id: eventId, key: content.key } as const;
    return { kind: "event", type: "m.reaction", content: { "m.relates_to": rel } };
  },
  redaction: (content, ctx) => {
    const eventId = target(content.target, ctx, "redaction");
    if (typeof eventId !== "string") return eventId;
    return { kind: "redaction", redacts: eventId, ...(content.reason && { reason: content.reason }) };
  },
  receipt: (content, ctx) => {
    const eventIds = [...new Set(content.targets.map((id) => ctx.matrixIdOf(messageId(id))))].filter(
      (id): id is MatrixEventId => id !== undefined,
    );
    if (eventIds.length === 0)
      return unbridgeable("unknown_target", "receipts only for messages not bridged");
    return { kind: "receipt", eventIds };
  },
  typing: (content) => ({
    kind: "typing",
    active: content.active,
    timeoutMs: content.active ? content.timeout_ms : 0,
  }),
  attachment: (content) => {
    const thumbnail = usableThumbnail(content.blob, content.thumbnail);
    return { kind: "transfer", blob: content.blob, ...(thumbnail && { thumbnail }) };
  },
};

/** A reply naming options of the poll it answers: the ghost's vote. */
function pollVote(body: string, eventId: MatrixEventId, ctx: PeopleToMatrixContext): ToMatrix | undefined {
  const poll = ctx.pollOf?.(eventId);
  const ids = poll && matchPollAnswer(poll, body);
  if (!poll || !ids) return undefined;
  const { type, content } = pollResponse(poll, eventId, ids);
  return { kind: "event", type, content };
}

function isConverted(type: string): type is keyof typeof PEOPLE_TO_MATRIX {
  return Object.hasOwn(PEOPLE_TO_MATRIX, type);
}

export function peopleToMatrix(input: MessageContent, ctx: PeopleToMatrixContext): ToMatrix {
  const parsed = contentSchema.safeParse(input);
  if (!parsed.success)
    return unbridgeable("invalid_content", `People content: ${describeIssue(parsed.error)}`);
  const content = parsed.data;
  if (!isConverted(content.type))
    return unbridgeable("unsupported_type", `People ${content.type} is not a room message`);
  const convert = PEOPLE_TO_MATRIX[content.type] as Converter<typeof content.type>;
  return convert(content as Content<typeof content.type>, ctx);
}

/** The thumbnail worth bringing to Matrix with this blob, if any. */
function usableThumbnail(blob: BlobRef, thumb: BlobRef | undefined): BlobRef | undefined {
  if (!thumb || thumb.size > MAX_THUMBNAIL_BYTES || !isThumbnailMime(thumb.mime)) return undefined;
  return msgtypeHasThumbnail(msgtypeOf(blob.mime)) ? thumb : undefined;
}

function msgtypeOf(mime: string): MatrixMediaMsgtype {
  // SVG can carry script; it travels as a file, never as an inline image.
  if (mime.startsWith("image/") && mime !== "image/svg+xml") return "m.image";
  if (mime.startsWith("video/")) return "m.video";
  if (mime.startsWith("audio/")) return "m.audio";
  return "m.file";
}

function mediaInfo(
  blob: BlobRef,
  msgtype: MatrixMediaMsgtype,
  thumb: BlobRef | undefined,
  uploaded: UploadedMedia,
) {
  const visual = msgtype === "m.image" || msgtype === "m.video";
  const info: MatrixMediaInfoOut = {
    mimetype: blob.mime,
    size: blob.size,
    ...(visual && blob.width !== undefined && { w: blob.width }),
    ...(visual && blob.height !== undefined && { h: blob.height }),
    ...(msgtype !== "m.image" &&
      msgtype !== "m.file" &&
      blob.duration_ms !== undefined && {
        duration: blob.duration_ms,
      }),
  };
  if (thumb && uploaded.thumbnail && usableThumbnail(blob, thumb)) {
    if ("url" in uploaded.thumbnail) info.thumbnail_url = uploaded.thumbnail.url;
    else info.thumbnail_file = uploaded.thumbnail.file;
    info.thumbnail_info = {
      mimetype: thumb.mime,
      size: thumb.size,
      ...(thumb.width !== undefined && { w: thumb.width }),
      ...(thumb.height !== undefined && { h: thumb.height }),
    };
  }
  return info;
}

/** The m.room.message for a People attachment whose bytes the bridge uploaded to Matrix. */
export function attachmentToMatrix(
  input: AttachmentContent,
  uploaded: UploadedMedia,
  ctx: PeopleToMatrixContext,
): ToMatrix {
  const parsed = contentSchema.safeParse(input);
  if (!parsed.success || parsed.data.type !== "attachment") {
    return unbridgeable(
      "invalid_content",
      parsed.success ? "not an attachment" : describeIssue(parsed.error),
    );
  }
  const { blob, thumbnail, caption, reply_to, kind, waveform } = parsed.data;
  const msgtype = msgtypeOf(blob.mime);
  const name = blob.name === undefined ? undefined : cleanFileName(blob.name);
  const cap = caption?.trim() ? truncateText(caption, Math.floor(budgetOf(ctx) / 2), jsonBytes) : undefined;
  const rel = replyRelation(reply_to, ctx);
  const info = mediaInfo(blob, msgtype, thumbnail, uploaded);
  // m.sticker has no `file`: in an encrypted room a sticker shows as an image.
  if (kind === "sticker" && msgtype === "m.image" && "url" in uploaded.media) {
    const body = cap ?? name ?? "sticker";
    const content = { body, url: uploaded.media.url, info, ...(rel && { "m.relates_to": rel }) };
    return { kind: "event", type: "m.sticker", content };
  }
  // Matrix 1.10: with a `filename`, a different `body` is the caption.
  const voice = kind === "voice" && msgtype === "m.audio";
  const body = cap ?? name ?? (voice ? "Voice message" : msgtype.slice(2));
  return message({
    msgtype,
    body,
    ...(name !== undefined && { filename: name }),
    ...("url" in uploaded.media ? { url: uploaded.media.url } : { file: uploaded.media.file }),
    info,
    ...(voice && {
      [VOICE_FLAG]: {},
      [AUDIO_FIELD]: {
        ...(blob.duration_ms !== undefined && { duration: blob.duration_ms }),
        ...(waveform && { waveform }),
      },
    }),
    ...(rel && { "m.relates_to": rel }),
  });
}
