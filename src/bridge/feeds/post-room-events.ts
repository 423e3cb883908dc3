// Matrix events in post rooms (post-rooms.ts). In a post group's room the
// owner's invite of a ghost adds that address to the group (a new epoch, its
// key sealed to the address's devices) and the ghost joins; the owner's kick
// removes it and rotates the epoch; a new room name renames the group. The
// owner's messages become posts, their edits post edits, their redactions
// retractions (each event's post recorded, so an edit finds its post, and the
// post's id derives from the event, so a redelivered event is the same post).
// The bot answers what could not be done, in reply to the event.
import type { PeopleAddress } from "../../people/protocol/address.js";
import { MAX_GROUP_AVATAR_BYTES } from "../../people/protocol/messages.js";
import { isRetryLater, retryLater, userError } from "../core/error-kinds.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide, MatrixSide, RoomEvent } from "../core/ports/matrix-side.js";
import type { AttachmentPlaceholder } from "../model/matrix-to-people.js";
import { MAX_THUMBNAIL_BYTES } from "../model/thumbnails.js";
import { notice } from "../core/notice.js";
import type { PostDraft, PostWriter } from "../core/ports/people-side.js";
import { mediaFailure, classifyToPeopleFailure } from "../portals/to-people-failures.js";
import type { RetryWindow } from "../portals/retry-window.js";
import type { PostRoom } from "../core/ports/store.js";
import { groupDetailsOf, postRoomActionOf } from "./post-room-content.js";
import { PUBLIC, type PostRooms } from "./post-rooms.js";

export interface PostRoomEventsOptions {
  rooms: PostRooms;
  matrix: Pick<MatrixSide, "sendNotice" | "leaveRoom" | "botUserId">;
  ghosts: GhostSide;
  log: Logger;
  retry: RetryWindow;
  maxMediaBytes: number;
}

export class PostRoomEvents {
  constructor(private readonly o: PostRoomEventsOptions) {}

  /** True when the event's room is a post room (handled here, whatever it was). */
  readonly handle = async (event: RoomEvent): Promise<boolean> => {
    const room = await this.o.rooms.byRoom(event.roomId);
    if (!room) return false;
    if (event.sender === this.o.matrix.botUserId || this.o.ghosts.addressOf(event.sender)) {
      return true; // the bridge's own events, and the members' posts it shows
    }
    try {
      await this.dispatch(room, event);
    } catch (err) {
      if (isRetryLater(err)) throw err;
      const failure = classifyToPeopleFailure(err);
      if (failure.kind === "transient" && this.o.retry.failed(event.eventId))
        throw retryLater(`a post room's event failed for now: ${failure.reason}`, { cause: err });
      this.o.log.info({ err, room: room.roomId }, "a post room's event could not be done");
      await this.tell(event, failure.kind === "permanent" ? failure.userText : failure.giveUpText);
    }
    this.o.retry.succeeded(event.eventId);
    return true;
  };

  private async dispatch(room: PostRoom, event: RoomEvent): Promise<void> {
    if (event.type === "m.room.member") return this.member(room, event);
    if (event.sender !== room.matrixUser) {
      if (event.type === "m.room.message")
        await this.tell(event, "Only the room's owner posts here; what others write stays in Matrix.");
      return;
    }
    if (event.type === "m.room.name" && room.audience !== PUBLIC) return this.rename(room, event);
    if (event.type === "m.room.topic" && room.audience !== PUBLIC) return this.details(room, event);
    if (event.type === "m.room.avatar" && room.audience !== PUBLIC) return this.details(room, event);
    const action = postRoomActionOf(event);
    const { writer } = await this.o.rooms.writerOf(room.matrixUser);
    switch (action.kind) {
      case "none":
        return;
      case "unpostable":
        return this.tell(event, action.why);
      case "text":
        return this.post(room, event, writer, { text: action.text });
      case "media":
        return this.post(room, event, writer, await this.media(action.media));
      case "edit": {
        const target = await this.o.rooms.store.postOfEvent(room.roomId, action.target);
        if (!target) return this.tell(event, "That message is not a post, so there is nothing to edit.");
        return this.post(room, event, writer, { text: action.text, replaces: target });
      }
      case "retract": {
        const target = await this.o.rooms.store.postOfEvent(room.roomId, action.target);
        if (target) await this.post(room, event, writer, { retracts: target });
        return;
      }
    }
  }

  private async post(room: PostRoom, event: RoomEvent, writer: PostWriter, draft: PostDraft): Promise<void> {
    const group = room.audience === PUBLIC ? null : room.audience;
    const postId = await writer.post(group, draft, event.eventId);
    await this.o.rooms.store.putEvent(room.roomId, event.eventId, postId);
    this.o.log.debug({ room: room.roomId, public: group === null }, "posted from Matrix");
  }

  /** The file's bytes from the homeserver (decrypted in an encrypted room), for the post. */
  private async media(media: AttachmentPlaceholder): Promise<PostDraft> {
    const max = this.o.maxMediaBytes;
    let bytes: Buffer;
    try {
      const decrypt = this.o.ghosts.downloadEncryptedMedia?.bind(this.o.ghosts);
      if (media.encrypted && !decrypt) throw userError("Encrypted files cannot be posted from here.");
      bytes =
        media.encrypted && decrypt
          ? await decrypt(media.encrypted, max)
          : await this.o.ghosts.downloadMedia(media.mxc, max);
    } catch (err) {
      throw mediaFailure(err, max);
    }
    const thumbnail = media.thumbnail && (await this.thumbnail(media.thumbnail));
    const file = {
      bytes,
      mime: media.mime,
      ...(media.name !== undefined && { name: media.name }),
      ...(thumbnail && { thumbnail }),
    };
    return { ...(media.caption ? { text: media.caption } : {}), attachments: [file] };
  }

  /** The event's thumbnail (decrypted in an encrypted room), an extra: one that cannot be had is left out. */
  private async thumbnail(
    thumb: NonNullable<AttachmentPlaceholder["thumbnail"]>,
  ): Promise<{ bytes: Buffer; mime: string } | undefined> {
    const decrypt = this.o.ghosts.downloadEncryptedMedia?.bind(this.o.ghosts);
    try {
      if (thumb.encrypted && !decrypt) return undefined;
      const bytes =
        thumb.encrypted && decrypt
          ? await decrypt(thumb.encrypted, MAX_THUMBNAIL_BYTES)
          : await this.o.ghosts.downloadMedia(thumb.mxc, MAX_THUMBNAIL_BYTES);
      return { bytes, mime: thumb.mime };
    } catch (err) {
      if (classifyToPeopleFailure(err).kind === "transient") throw err;
      this.o.log.info({ err }, "a post's thumbnail is left out");
      return undefined;
    }
  }

  private async member(room: PostRoom, event: RoomEvent): Promise<void> {
    const target = event.stateKey ?? "";
    const membership = event.content.membership;
    const gone = membership === "leave" || membership === "ban";
    if (target === room.matrixUser) {
      if (!gone) return;
      await this.o.rooms.forget(room);
      await this.o.matrix.leaveRoom(room.roomId).catch(() => undefined);
      return;
    }
    const address = this.o.ghosts.addressOf(target);
    if (!address || event.sender !== room.matrixUser) return;
    const ghost = this.o.ghosts.ghostId(address);
    if (room.audience === PUBLIC) {
      if (membership === "invite") {
        await this.o.ghosts.leave(ghost, room.roomId, "public posts have no members").catch(() => undefined);
        await this.tell(event, "Public posts have no members: anyone may read them. Make a group for that.");
      }
      return;
    }
    const { writer } = await this.o.rooms.writerOf(room.matrixUser);
    const members = await writer.members(room.audience);
    if (membership === "invite") return this.add(room, event, writer, address, members.includes(address));
    if (gone && members.includes(address)) {
      const change = await writer.removeMember(room.audience, address);
      await this.tell(
        event,
        `${address} is no longer a member: posts from now on use a new key (epoch ${change.epoch}) they do not hold.`,
      );
    }
  }

  private async add(
    room: PostRoom,
    event: RoomEvent,
    writer: PostWriter,
    address: PeopleAddress,
    already: boolean,
  ): Promise<void> {
    const ghost = await this.o.rooms.ghostOf(address);
    let change;
    try {
      change = already ? undefined : await writer.addMember(room.audience, address);
    } catch (err) {
      await this.o.ghosts.leave(ghost, room.roomId, "could not be added to the group").catch(() => undefined);
      throw err;
    }
    await this.o.ghosts.join(ghost, room.roomId);
    if (!change) return;
    const missed = change.undelivered.map((u) => u.address);
    await this.tell(
      event,
      missed.length === 0
        ? `${address} is a member now: their devices have the group's key (epoch ${change.epoch}).`
        : `${address} is a member now, but the group's key could not be sealed to ${missed.join(", ")}.`,
    );
  }

  private async rename(room: PostRoom, event: RoomEvent): Promise<void> {
    const name = typeof event.content.name === "string" ? event.content.name.trim() : "";
    if (!name) return;
    const { writer } = await this.o.rooms.writerOf(room.matrixUser);
    await writer.rename(room.audience, name.slice(0, 256));
  }

  /** The room's topic or picture, set by its owner, becomes the group's (PROTOCOL §11.2 "Group details"). */
  private async details(room: PostRoom, event: RoomEvent): Promise<void> {
    const change = groupDetailsOf(event.type, event.content);
    if (!change) return;
    const { writer } = await this.o.rooms.writerOf(room.matrixUser);
    if (change.kind === "topic") return writer.setDetails(room.audience, { topic: change.topic });
    if (change.kind === "no-avatar") return writer.setDetails(room.audience, { avatar: null });
    let bytes: Buffer;
    try {
      bytes = await this.o.ghosts.downloadMedia(change.mxc, MAX_GROUP_AVATAR_BYTES);
    } catch (err) {
      throw mediaFailure(err, MAX_GROUP_AVATAR_BYTES);
    }
    await writer.setDetails(room.audience, { avatar: { bytes, mime: change.mime } });
  }

  private tell(event: RoomEvent, text: string): Promise<void> {
    return this.o.matrix.sendNotice(event.roomId, notice(text), {
      txnKey: `post-room.${event.eventId}`,
      inReplyTo: event.eventId,
    });
  }
}
