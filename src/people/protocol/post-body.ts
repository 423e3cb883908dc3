// Post bodies and the feed's wire shapes (PROTOCOL §16.10).
//
// Every post body is canonical JSON signed by the author's ACCOUNT key with
// label "post" (PROTOCOL §5):
//   {"v":1,"type":"people.post","id","author","ts",["group","epoch",]["text",]["attachments",]
//    ["replaces" | "retracts"]}
// `group` and `epoch` are present exactly in group posts, so a signed group
// post body is never a valid public post body and vice versa.
import { z } from "zod";
import { MAX_TEXT, blobRefSchema } from "./messages.js";

export const MAX_POST_ATTACHMENTS = 16;
/** A post attachment's thumbnail: a small raster image (PROTOCOL §11.2 "Attachments"). */
export const MAX_POST_THUMBNAIL_BYTES = 1024 * 1024;
export const MAX_THUMBNAIL_SIDE = 4096;

/** Raster images only: SVG can carry script, and a thumbnail is shown inline without asking. */
const thumbnailMime = z
  .string()
  .max(255)
  .regex(/^image\/[\w.+-]+$/)
  .refine((m) => m !== "image/svg+xml", "a thumbnail is a raster image");
const side = z.number().int().min(1).max(MAX_THUMBNAIL_SIDE);

/** A thumbnail: a blob of its own (its own key), at most 1 MiB, a raster image of known size. */
export const thumbnailRefSchema = blobRefSchema.omit({ duration_ms: true, name: true }).extend({
  mime: thumbnailMime,
  size: z.number().int().min(0).max(MAX_POST_THUMBNAIL_BYTES),
  width: side,
  height: side,
});
export type ThumbnailRef = z.infer<typeof thumbnailRefSchema>;

/** A post's attachment: a BlobRef and, for a video (or any file), an optional thumbnail. */
export const postAttachmentSchema = blobRefSchema.extend({ thumbnail: thumbnailRefSchema.optional() });
export type PostAttachmentRef = z.infer<typeof postAttachmentSchema>;

export const id16 = z.string().regex(/^[A-Za-z0-9_-]{21}[AQgw]$/);
export const postBodySchema = z.strictObject({
  v: z.literal(1),
  type: z.literal("people.post"),
  id: id16,
  author: z.string().min(3).max(254),
  ts: z.number().int().min(0).max(8.64e15),
  group: id16.optional(),
  epoch: z.number().int().min(0).optional(),
  text: z.string().max(MAX_TEXT).optional(),
  attachments: z.array(postAttachmentSchema).min(1).max(MAX_POST_ATTACHMENTS).optional(),
  /** An edit: this post's text and attachments replace those of the author's post `replaces`. */
  replaces: id16.optional(),
  /** A retraction: the author withdraws the post `retracts` (no text, no attachments). */
  retracts: id16.optional(),
});
export type PostBody = z.infer<typeof postBodySchema>;

export const feedAnswer = z.object({
  posts: z.array(
    z.object({
      seq: z.number().int().min(0),
      post_id: z.string().max(64),
      public: z.boolean(),
      created_at: z.number(),
      post: z.unknown(),
      blobs: z.array(z.string()),
    }),
  ),
  next: z.number().int().min(0),
});
export type FeedAnswer = z.infer<typeof feedAnswer>;
export type FeedEntry = FeedAnswer["posts"][number];

export const publicWire = z.strictObject({ body: z.string(), sig: z.string() });
export const privateWire = z.strictObject({
  ciphertext: z.string(),
  group: z.string(),
  epoch: z.number().int().min(0),
});

/**
 * The rules of a body that a schema cannot say: text or attachments (a retraction has
 * neither), never both `replaces` and `retracts`, and no post that edits or retracts itself.
 * Undefined when the body keeps them; else what is wrong.
 */
export function bodyShapeProblem(body: PostBody): string | undefined {
  const hasContent = body.text !== undefined || body.attachments !== undefined;
  if (body.replaces !== undefined && body.retracts !== undefined) return "both an edit and a retraction";
  if (body.replaces === body.id || body.retracts === body.id) return "a post that refers to itself";
  if (body.retracts !== undefined) return hasContent ? "a retraction with content" : undefined;
  return hasContent ? undefined : "a post without text or attachments";
}
