// The Matrix event content the converters read and write. Incoming content is
// validated here with zod, once, at the edge: every field a converter uses is
// checked; fields it does not use are ignored (Matrix content is extensible).
// Advisory metadata (media `info`) that is malformed is dropped, not fatal.
import { z } from "zod";
import {
  isMatrixEventId,
  isMatrixUserId,
  isMxcUri,
  type MatrixEventId,
  type MatrixUserId,
  type MxcUri,
} from "./matrix-ids.js";

export const HTML_FORMAT = "org.matrix.custom.html";

const eventId = z.custom<MatrixEventId>(isMatrixEventId, "not a Matrix event id");
export const userIdSchema = z.custom<MatrixUserId>(isMatrixUserId, "not a Matrix user id");
const mxc = z.custom<MxcUri>(isMxcUri, "not an mxc URI");
/** Advisory: a bad value becomes undefined instead of failing the event. */
const advisory = <T extends z.ZodType>(schema: T) => schema.optional().catch(undefined);
const count = (max: number) => advisory(z.number().int().min(0).max(max));

export const relatesToSchema = z.object({
  rel_type: z.string().max(255).optional(),
  event_id: eventId.optional(),
  key: z.string().optional(),
  is_falling_back: z.boolean().optional(),
  "m.in_reply_to": z.object({ event_id: eventId }).optional(),
});
export type MatrixRelatesToIn = z.infer<typeof relatesToSchema>;

export const TEXT_MSGTYPES = ["m.text", "m.notice", "m.emote"] as const;
export const MEDIA_MSGTYPES = ["m.image", "m.file", "m.audio", "m.video"] as const;
export type MatrixTextMsgtype = (typeof TEXT_MSGTYPES)[number];
export type MatrixMediaMsgtype = (typeof MEDIA_MSGTYPES)[number];

/** The encrypted-attachment descriptor of end-to-end encrypted rooms (`file`). */
export const encryptedFileSchema = z.object({
  url: mxc,
  key: z.object({
    kty: z.literal("oct"),
    key_ops: z.array(z.string()).max(16),
    alg: z.literal("A256CTR"),
    k: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
    ext: z.literal(true),
  }),
  iv: z.string().regex(/^[A-Za-z0-9+/]{22}(?:==)?$/),
  hashes: z.object({ sha256: z.string().regex(/^[A-Za-z0-9+/]{43}=?$/) }),
  v: z.literal("v2"),
});
export type EncryptedFile = z.infer<typeof encryptedFileSchema>;

const thumbnailInfoSchema = z.object({
  mimetype: advisory(z.string().max(255)),
  size: count(2 ** 40),
  w: count(65535),
  h: count(65535),
});

const mediaInfoSchema = thumbnailInfoSchema.extend({
  duration: count(2 ** 40),
  thumbnail_url: advisory(mxc),
  thumbnail_file: advisory(encryptedFileSchema),
  thumbnail_info: advisory(thumbnailInfoSchema),
});
export type MatrixMediaInfo = z.infer<typeof mediaInfoSchema>;

export const textContentSchema = z.object({
  msgtype: z.enum(TEXT_MSGTYPES),
  body: z.string(),
  format: z.string().optional(),
  formatted_body: z.string().optional(),
});

/** MSC1767 audio: a voice message's duration (ms) and waveform (0–1024 each). */
const audioSchema = z.object({
  duration: count(2 ** 40),
  waveform: advisory(z.array(z.number().int().min(0).max(1024)).max(65_536)),
});

export const VOICE_FLAG = "org.matrix.msc3245.voice";
export const AUDIO_FIELD = "org.matrix.msc1767.audio";

export const mediaContentSchema = z
  .object({
    msgtype: z.enum(MEDIA_MSGTYPES),
    body: z.string(),
    filename: z.string().optional(),
    url: mxc.optional(),
    file: encryptedFileSchema.optional(),
    info: advisory(mediaInfoSchema),
    /** MSC3245: present (an object) on a voice message. */
    [VOICE_FLAG]: advisory(z.object({})),
    [AUDIO_FIELD]: advisory(audioSchema),
  })
  .refine((c) => (c.url === undefined) !== (c.file === undefined), "exactly one of url and file");
export type MatrixMediaIn = z.infer<typeof mediaContentSchema>;

/** m.sticker: an image without a msgtype, always unencrypted `url`. */
export const stickerContentSchema = z.object({ body: z.string(), url: mxc, info: advisory(mediaInfoSchema) });

/** m.location: a geo URI, and MSC3488's location block (with a description) when the client sends it. */
export const locationContentSchema = z.object({
  msgtype: z.literal("m.location"),
  body: z.string(),
  geo_uri: z.string().max(256).optional(),
  "org.matrix.msc3488.location": advisory(
    z.object({ uri: z.string().max(256), description: z.string().max(1024).optional() }),
  ),
});

export const messageContentSchema = z.object({
  msgtype: z.string(),
  "m.relates_to": relatesToSchema.optional(),
  "m.new_content": z.unknown().optional(),
});

export const reactionContentSchema = z.object({
  "m.relates_to": z.object({
    rel_type: z.literal("m.annotation"),
    event_id: eventId,
    key: z.string().min(1),
  }),
});

/** Room versions up to 10 put `redacts` beside the content, version 11 inside it. */
export const redactionSchema = z.object({
  redacts: eventId,
  reason: z.string().optional(),
});

export const receiptContentSchema = z.record(z.string(), z.unknown());
export const receiptEntrySchema = z.object({
  "m.read": z.record(z.string(), z.unknown()).optional(),
});

export const typingContentSchema = z.object({ user_ids: z.array(z.string()) });

// What the converters write: only well-formed shapes.

export interface MatrixRelatesTo {
  rel_type?: "m.replace" | "m.annotation";
  event_id?: MatrixEventId;
  key?: string;
  "m.in_reply_to"?: { event_id: MatrixEventId };
}

export interface MatrixTextContent {
  msgtype: MatrixTextMsgtype;
  body: string;
  format?: typeof HTML_FORMAT;
  formatted_body?: string;
  "m.relates_to"?: MatrixRelatesTo;
  "m.new_content"?: MatrixTextContent;
}

export interface MatrixThumbnailInfo {
  mimetype?: string;
  size?: number;
  w?: number;
  h?: number;
}

export interface MatrixMediaInfoOut extends MatrixThumbnailInfo {
  duration?: number;
  thumbnail_url?: MxcUri;
  thumbnail_file?: EncryptedFile;
  thumbnail_info?: MatrixThumbnailInfo;
}

export interface MatrixMediaContent extends MatrixVoiceFields {
  msgtype: MatrixMediaMsgtype;
  body: string;
  filename?: string;
  url?: MxcUri;
  file?: EncryptedFile;
  info: MatrixMediaInfoOut;
  "m.relates_to"?: MatrixRelatesTo;
}

/** A voice message's MSC3245 flag and MSC1767 audio block, on an m.audio. */
export interface MatrixVoiceFields {
  [VOICE_FLAG]?: Record<string, never>;
  [AUDIO_FIELD]?: { duration?: number; waveform?: number[] };
}

export interface MatrixStickerContent {
  body: string;
  url: MxcUri;
  info: MatrixMediaInfoOut;
  "m.relates_to"?: MatrixRelatesTo;
}

export interface MatrixLocationContent {
  msgtype: "m.location";
  body: string;
  geo_uri: string;
  "org.matrix.msc3488.location": { uri: string; description?: string };
  "org.matrix.msc1767.text": string;
  "m.relates_to"?: MatrixRelatesTo;
}

export interface MatrixReactionContent {
  "m.relates_to": { rel_type: "m.annotation"; event_id: MatrixEventId; key: string };
}

/** Where uploaded media lives on Matrix: plain in unencrypted rooms, `file` in encrypted ones. */
export type MatrixMediaSource = { url: MxcUri } | { file: EncryptedFile };

/** The first zod issue as a log line: a path and a message, never the offending value. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid";
  const path = issue.path.map(String).join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}
