// Uploading a post's files (PROTOCOL §11.2 "Attachments"): each file a blob of
// its own, and its thumbnail, when given, another blob with its own key. The
// thumbnail's size is measured from its bytes (not taken from the caller), and
// it must be a small raster image; otherwise the post is refused before
// anything is uploaded.
import { imageSize } from "image-size";
import { PeopleError } from "../errors.js";
import type { ProgressFn } from "../net/https-client.js";
import {
  MAX_POST_THUMBNAIL_BYTES,
  postAttachmentSchema,
  thumbnailRefSchema,
  type PostAttachmentRef,
  type ThumbnailRef,
} from "../protocol/post-body.js";
import type { Attachments } from "./attachments.js";
import type { PostAttachment, PostThumbnail } from "./post-types.js";

/** Each blob's ciphertext is its plaintext and a 16-byte tag. */
const TAG = 16;

/** The thumbnail's width and height, from its bytes; refused when it is not a raster image it may be. */
export function measureThumbnail(t: PostThumbnail): { width: number; height: number } {
  if (t.bytes.length > MAX_POST_THUMBNAIL_BYTES)
    throw new PeopleError("PEOPLE_BAD_REQUEST", `a thumbnail is at most ${MAX_POST_THUMBNAIL_BYTES} bytes`);
  let size: { width: number; height: number };
  try {
    size = imageSize(t.bytes);
  } catch {
    throw new PeopleError("PEOPLE_BAD_REQUEST", "the thumbnail is not an image");
  }
  const probe = thumbnailRefSchema.shape;
  if (!probe.mime.safeParse(t.mime).success)
    throw new PeopleError("PEOPLE_BAD_REQUEST", "a thumbnail is a raster image (not SVG)");
  if (!probe.width.safeParse(size.width).success || !probe.height.safeParse(size.height).success)
    throw new PeopleError("PEOPLE_BAD_REQUEST", "the thumbnail's sides are 1 to 4096 pixels");
  return { width: size.width, height: size.height };
}

/** Uploads the files (and thumbnails) in order; the references the post body carries. */
export async function uploadPostAttachments(
  attachments: Attachments,
  files: readonly PostAttachment[],
  onProgress: ProgressFn | undefined,
): Promise<PostAttachmentRef[]> {
  // Checked before any upload: a bad thumbnail refuses the post, not half of it.
  const sizes = files.map((f) => (f.thumbnail ? measureThumbnail(f.thumbnail) : undefined));
  const total = files.reduce(
    (n, f) => n + f.bytes.length + TAG + (f.thumbnail ? f.thumbnail.bytes.length + TAG : 0),
    0,
  );
  let before = 0;
  const upload = async (bytes: Buffer, meta: Parameters<Attachments["upload"]>[1]) => {
    const base = before;
    const ref = await attachments.upload(
      bytes,
      meta,
      onProgress ? { onProgress: (done) => onProgress(base + done, total) } : {},
    );
    before += bytes.length + TAG;
    return ref;
  };
  const out: PostAttachmentRef[] = [];
  for (const [i, { bytes, thumbnail, ...meta }] of files.entries()) {
    const blob = await upload(bytes, meta);
    let thumb: ThumbnailRef | undefined;
    if (thumbnail) {
      const ref = await upload(thumbnail.bytes, { mime: thumbnail.mime, ...sizes[i]! });
      const checked = thumbnailRefSchema.safeParse(ref);
      if (!checked.success) throw new PeopleError("PEOPLE_BAD_REQUEST", "thumbnail metadata is invalid");
      thumb = checked.data;
    }
    const checked = postAttachmentSchema.safeParse({ ...blob, ...(thumb ? { thumbnail: thumb } : {}) });
    if (!checked.success) throw new PeopleError("PEOPLE_BAD_REQUEST", "attachment metadata is invalid");
    out.push(checked.data);
  }
  return out;
}

/** The distinct blob ids a post pins: its files and their thumbnails. */
export function postBlobIds(attachments: readonly PostAttachmentRef[]): string[] {
  return [...new Set(attachments.flatMap((a) => (a.thumbnail ? [a.id, a.thumbnail.id] : [a.id])))];
}
