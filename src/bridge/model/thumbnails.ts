// Thumbnails travel with media both ways (People `attachment.thumbnail`,
// Matrix `info.thumbnail_url` + `thumbnail_info`), as extras: a thumbnail that
// is not a plain image, or too large to be one, is left out rather than
// holding up the media it belongs to.

/** The largest thumbnail carried (Matrix clients make them well under 100 KB). */
export const MAX_THUMBNAIL_BYTES = 1024 * 1024;

/** Raster images only: SVG can carry script, and a thumbnail is shown inline. */
export function isThumbnailMime(mime: string): boolean {
  return /^image\/[\w.+-]+$/.test(mime) && mime !== "image/svg+xml";
}

/** Matrix defines thumbnails for images, videos and files, not for audio. */
export function msgtypeHasThumbnail(msgtype: string): boolean {
  return msgtype === "m.image" || msgtype === "m.video" || msgtype === "m.file";
}
