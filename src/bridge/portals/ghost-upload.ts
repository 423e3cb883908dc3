// Media a ghost posts (a People attachment in a portal, a post's file in a feed
// room): uploaded encrypted, with a `file` object, into an encrypted room, and
// plain otherwise. Either way the homeserver must have answered with an mxc URI.
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { MatrixMediaSource } from "../model/matrix-content.js";
import { isMxcUri, type MatrixUserId } from "../model/matrix-ids.js";

export async function uploadAsGhost(
  ghosts: Pick<GhostSide, "uploadRoomMedia" | "uploadMedia">,
  ghost: MatrixUserId,
  room: string,
  bytes: Buffer,
  mime: string,
  name?: string,
): Promise<MatrixMediaSource> {
  const media = ghosts.uploadRoomMedia
    ? await ghosts.uploadRoomMedia(ghost, room, bytes, mime, name)
    : { url: await ghosts.uploadMedia(ghost, bytes, mime, name) };
  const mxc = "url" in media ? media.url : media.file.url;
  if (!isMxcUri(mxc)) throw new Error("the homeserver answered the upload without an mxc URI");
  return media as MatrixMediaSource;
}
