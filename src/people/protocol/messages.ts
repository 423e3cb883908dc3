// The signed inner message and every content type it can carry. This is the
// one place their shapes are defined; a received message is validated here
// once, after its signature verified, and is typed from then on.
import { z } from "zod";

const id16 = z.string().regex(/^[A-Za-z0-9_-]{21}[AQgw]$/);
const key32 = z.string().regex(/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/);
const address = z.string().min(3).max(254);
const ms = z.number().int().min(0).max(8.64e15);
const shortText = z.string().max(256);

export const MAX_TEXT = 64 * 1024;

const formattedText = {
  body: z.string().max(MAX_TEXT),
  /** HTML in Matrix's allowed subset; receivers sanitize again before display. */
  html: z
    .string()
    .max(2 * MAX_TEXT)
    .optional(),
};

export const blobRefSchema = z.strictObject({
  /** Domain of the server holding the blob (the sender's own). */
  server: z.string().max(253),
  id: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  key: key32,
  /** SHA-256 of the encrypted blob, base64url. */
  hash: key32,
  mime: z
    .string()
    .max(255)
    .regex(/^[\w.+-]+\/[\w.+-]+$/),
  size: z
    .number()
    .int()
    .min(0)
    .max(2 ** 40),
  name: z.string().max(255).optional(),
  width: z.number().int().min(0).max(65535).optional(),
  height: z.number().int().min(0).max(65535).optional(),
  duration_ms: z.number().int().min(0).optional(),
});
export type BlobRef = z.infer<typeof blobRefSchema>;

export const contentSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("text"), ...formattedText, reply_to: id16.optional() }),
  z.strictObject({ type: z.literal("edit"), target: id16, ...formattedText }),
  z.strictObject({ type: z.literal("reaction"), target: id16, key: shortText }),
  z.strictObject({ type: z.literal("redaction"), target: id16, reason: shortText.optional() }),
  z.strictObject({ type: z.literal("receipt"), targets: z.array(id16).min(1).max(100) }),
  z.strictObject({
    type: z.literal("typing"),
    active: z.boolean(),
    timeout_ms: z.number().int().min(0).max(120_000),
  }),
  z.strictObject({
    type: z.literal("attachment"),
    blob: blobRefSchema,
    thumbnail: blobRefSchema.optional(),
    caption: z.string().max(MAX_TEXT).optional(),
    reply_to: id16.optional(),
  }),
  z.strictObject({
    type: z.literal("group_key"),
    group: id16,
    epoch: z.number().int().min(0),
    key: key32,
    members: z.array(address).max(1024),
  }),
  z.strictObject({
    type: z.literal("post_notice"),
    author: address,
    group: id16,
    post: id16,
    epoch: z.number().int().min(0),
  }),
  z.strictObject({
    type: z.literal("rt_offer"),
    session: id16,
    /** Ephemeral X25519 key of the caller's device for the session key exchange. */
    eph: key32,
    media: z.enum(["data", "voice", "video"]),
    sdp: z
      .string()
      .max(32 * 1024)
      .optional(),
    dtls_fingerprint: z.string().max(256).optional(),
  }),
  z.strictObject({
    type: z.literal("rt_answer"),
    session: id16,
    eph: key32,
    sdp: z
      .string()
      .max(32 * 1024)
      .optional(),
    dtls_fingerprint: z.string().max(256).optional(),
  }),
  z.strictObject({
    type: z.literal("rt_candidate"),
    session: id16,
    candidates: z.array(z.string().max(1024)).max(64),
  }),
  z.strictObject({
    type: z.literal("rt_hangup"),
    session: id16,
    reason: z.enum(["normal", "busy", "declined", "failed", "timeout"]),
  }),
  z.strictObject({
    type: z.literal("move_notice"),
    /** The account-signed move statement, verified by the receiver against the pinned account key. */
    notice: z.strictObject({ body: z.string().max(4096), sig: z.string().max(128) }),
  }),
  z.strictObject({
    type: z.literal("delivery_token"),
    token: z.string().regex(/^[A-Za-z0-9_-]{22,64}$/),
    expires: ms,
  }),
  /** Device linking between a new device and one of the account's own devices (never shown as a message). */
  z.strictObject({ type: z.literal("device_link"), document: z.string().max(16 * 1024) }),
]);

export type MessageContent = z.infer<typeof contentSchema>;
export type MessageType = MessageContent["type"];

export const innerMessageSchema = z.strictObject({
  v: z.literal(1),
  id: id16,
  from: address,
  device: z.string().max(64),
  ts: ms,
  exp: ms,
  to: z.array(address).min(1).max(1024),
  /** Commitment to the content key: SHA-256 of "people/v1 content-key\0" || key. */
  ck: key32,
  content: contentSchema,
});

export type InnerMessageJson = z.infer<typeof innerMessageSchema>;
