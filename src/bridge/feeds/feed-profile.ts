// Feed rooms follow their author's People profile: after each refresh of the
// author's ghost profile (profiles/ghost-profiles.ts), every feed room of the
// author gets the new name ("Joe's posts") and picture, as the author's ghost,
// only when they differ from what the room last showed (recorded in
// feed_rooms, so a restart sends nothing again). The picture is the one the
// ghost profile already uploaded: no second upload.
import type { PeopleAddress } from "../../people/protocol/address.js";
import { KeyedLock } from "../../shared/keyed-lock.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { FeedRoom, FeedStore } from "../core/ports/store.js";
import { feedRoomName } from "./feed-content.js";

/** What a profile refresh saw (ghost-profiles.ts ProfileSeen, restated: features do not import each other). */
export interface AuthorProfile {
  displayName?: string;
  avatar: { hash: string; mxc: string } | null;
}

export class FeedProfiles {
  private readonly lock = new KeyedLock();

  constructor(private readonly o: { ghosts: GhostSide; store: FeedStore; log: Logger }) {}

  /** The author's profile as just read: each of their feed rooms follows it. */
  readonly seen = async (author: PeopleAddress, profile: AuthorProfile): Promise<void> => {
    for (const room of await this.o.store.rooms()) {
      if (room.author !== author) continue;
      await this.lock
        .run(room.roomId, () => this.follow(room.roomId, author, profile))
        .catch((err: unknown) =>
          this.o.log.warn({ err, room: room.roomId }, "a feed room could not follow its author's profile"),
        );
    }
  };

  private async follow(roomId: string, author: PeopleAddress, profile: AuthorProfile): Promise<void> {
    const room: FeedRoom | undefined = await this.o.store.byRoom(roomId);
    if (!room) return; // unfollowed meanwhile
    const ghost = this.o.ghosts.ghostId(author);
    const name = feedRoomName(author, profile.displayName);
    const avatar = profile.avatar?.hash ?? "";
    if (room.shownName !== name) await this.o.ghosts.setRoomState(ghost, roomId, "m.room.name", "", { name });
    if (room.shownAvatar !== avatar)
      // No picture: an empty m.room.avatar removes the room's (the spec's way).
      await this.o.ghosts.setRoomState(
        ghost,
        roomId,
        "m.room.avatar",
        "",
        profile.avatar ? { url: profile.avatar.mxc } : {},
      );
    if (room.shownName !== name || room.shownAvatar !== avatar) {
      await this.o.store.setShown(roomId, { name, avatar });
      this.o.log.info({ room: roomId }, "feed room follows its author's new profile");
    }
  }
}
