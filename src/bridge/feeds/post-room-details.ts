// A post group's room follows the group's name, topic and picture when its
// owner changes them on another People device: that device sends the group's
// key again with the new details to every member and a copy to the owner's
// other devices, so the bridge's device gets a `group_key` from its own
// address. The People client has stored it by then (its own route runs first);
// here the room gets what the group holds now, set by the bot, and only what
// differs from the room's state, so a redelivered key changes nothing. The
// bot's own state events are not taken back to People (post-room-events.ts
// ignores the bot's events): no echo.
import type { BlobRef } from "../../people/protocol/messages.js";
import { MAX_GROUP_AVATAR_BYTES } from "../../people/protocol/messages.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { IncomingMessage, PeopleAccount } from "../core/ports/people-side.js";
import type { PostRoomStore } from "../core/ports/store.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import { classifyAttachmentFailure } from "../portals/delivery-failure.js";

/** Names the People picture an m.room.avatar shows, so an unchanged one is not uploaded again. */
export const AVATAR_BLOB_KEY = "org.people.blob";

export class PostRoomDetails {
  constructor(
    private readonly o: { ghosts: GhostSide; store: PostRoomStore; botUserId: string; log: Logger },
  ) {}

  /** A `group_key` for `account` (the feeds feature's own flow). Resolves once the room follows. */
  readonly onKey = async (account: PeopleAccount, m: IncomingMessage): Promise<void> => {
    const c = m.content;
    // Only the owner's own other devices change what the owner's room shows.
    if (c.type !== "group_key" || m.from !== account.address) return;
    const room = await this.o.store.of(account.owner, c.group);
    const details = account.postWriter?.details;
    if (!room || !details) return;
    const now = await details(c.group);
    const bot = this.o.botUserId as MatrixUserId;
    const state = async (type: string) =>
      (await this.o.ghosts.roomState(bot, room.roomId, type, ""))?.content ?? {};
    if (now.name !== null && (await state("m.room.name")).name !== now.name)
      await this.o.ghosts.setRoomState(bot, room.roomId, "m.room.name", "", { name: now.name });
    // A key carries topic and picture once the owner gave them (else the room keeps its own).
    if (c.topic !== undefined && (await state("m.room.topic")).topic !== (now.topic ?? ""))
      await this.o.ghosts.setRoomState(bot, room.roomId, "m.room.topic", "", { topic: now.topic ?? "" });
    if (c.avatar !== undefined)
      await this.picture(account, room.roomId, now.avatar, await state("m.room.avatar"));
    this.o.log.debug({ room: room.roomId }, "post group room follows the group's details");
  };

  private async picture(
    account: PeopleAccount,
    roomId: string,
    avatar: BlobRef | null,
    shown: Record<string, unknown>,
  ): Promise<void> {
    const bot = this.o.botUserId as MatrixUserId;
    if (avatar === null) {
      if (shown.url !== undefined) await this.o.ghosts.setRoomState(bot, roomId, "m.room.avatar", "", {});
      return;
    }
    if (shown[AVATAR_BLOB_KEY] === avatar.id) return;
    let bytes: Buffer;
    try {
      if (avatar.size > MAX_GROUP_AVATAR_BYTES) throw new Error("a group picture over 1 MiB");
      bytes = await account.downloadAttachment(avatar);
    } catch (err) {
      if (classifyAttachmentFailure(err).kind === "transient") throw err;
      this.o.log.warn({ err, room: roomId }, "the group's picture cannot be brought into its room");
      return;
    }
    const url = await this.o.ghosts.uploadMedia(bot, bytes, avatar.mime);
    await this.o.ghosts.setRoomState(bot, roomId, "m.room.avatar", "", {
      url,
      info: { mimetype: avatar.mime, size: bytes.length },
      [AVATAR_BLOB_KEY]: avatar.id,
    });
  }
}
