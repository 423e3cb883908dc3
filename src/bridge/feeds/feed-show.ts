// Showing posts in a feed room, each once: a post becomes its ghost's events
// (text, or its attachments with the text as caption), an edit an m.replace of
// the post's first event, a retraction the redaction of the post's events.
// Every send has a transaction key derived from the room and post, so a post
// sent before a crash and not yet recorded is answered by the homeserver with
// the event it already made; the row is written after the send.
import type { Post } from "../../people/client/post-types.js";
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { BlobRef } from "../../people/protocol/messages.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import { uploadAsGhost } from "../portals/ghost-upload.js";
import type { MatrixEventId, MatrixUserId } from "../model/matrix-ids.js";
import type { MatrixMediaSource } from "../model/matrix-content.js";
import { attachmentToMatrix } from "../model/people-to-matrix.js";
import { notice, noticeContent } from "../core/notice.js";
import { classifyAttachmentFailure } from "../portals/delivery-failure.js";
import type { PeopleAccount } from "../core/ports/people-side.js";
import type { FeedRoom, FeedStore } from "../core/ports/store.js";
import { editContent, postParts, type PostPart } from "./feed-content.js";

export interface FeedShowOptions {
  ghosts: GhostSide;
  store: FeedStore;
  log: Logger;
  maxMediaBytes: number;
  now: () => number;
}

export class FeedShow {
  constructor(private readonly o: FeedShowOptions) {}

  /** Shows one opened post (or applies the edit or retraction it is) unless the room has it already. */
  async show(room: FeedRoom, account: PeopleAccount, post: Post): Promise<void> {
    const known = await this.o.store.post(room.roomId, post.id);
    if (known && known.state !== "waiting") return;
    const ghost = this.o.ghosts.ghostId(room.author as PeopleAddress);
    const base = { roomId: room.roomId, postId: post.id, seq: post.seq };
    if (post.retracts !== undefined) {
      await this.retract(room, ghost, post.retracts, post.id);
      await this.o.store.putPost({ ...base, state: "retracted" }, [], this.o.now());
      return;
    }
    if (post.replaces !== undefined) {
      const target = await this.o.store.post(room.roomId, post.replaces);
      if (target?.state === "shown" && target.eventId) {
        const content = editContent(target.eventId, post);
        const id = await this.o.ghosts.sendEvent(
          ghost,
          room.roomId,
          "m.room.message",
          content,
          this.txn(room, post.id, 0),
        );
        await this.o.store.putPost({ ...base, state: "shown", eventId: id }, [], this.o.now());
        return;
      }
      // The edited post is not shown in this room (older than the backfill, retracted, or still
      // waiting for its key, which then shows it as first posted): nothing to edit.
      await this.o.store.putPost({ ...base, state: "shown" }, [], this.o.now());
      return;
    }
    const events: MatrixEventId[] = [];
    const parts = postParts(post);
    for (const [i, part] of parts.entries()) {
      events.push(await this.sendPart(room, ghost, account, part, this.txn(room, post.id, i)));
    }
    const first = events[0];
    await this.o.store.putPost(
      {
        ...base,
        state: "shown",
        ...(post.group !== undefined ? { group: post.group } : {}),
        ...(first ? { eventId: first } : {}),
      },
      events,
      this.o.now(),
    );
    this.o.log.debug(
      { room: room.roomId, post: post.id, events: events.length },
      "post shown in a feed room",
    );
  }

  private async retract(room: FeedRoom, ghost: MatrixUserId, target: string, by: string): Promise<void> {
    const known = await this.o.store.post(room.roomId, target);
    const events = await this.o.store.eventsOf(room.roomId, target);
    for (const [i, eventId] of events.entries()) {
      await this.o.ghosts.redact(
        ghost,
        room.roomId,
        eventId as MatrixEventId,
        "withdrawn by its author",
        this.txn(room, by, i),
      );
    }
    // Recorded as retracted even when it never arrived here, so that it never does.
    await this.o.store.putPost(
      { roomId: room.roomId, postId: target, seq: known?.seq ?? 0, state: "retracted" },
      [],
      this.o.now(),
    );
  }

  /** The thumbnail in Matrix (encrypted in an encrypted room); one People cannot give is left out. */
  private async thumbnail(
    room: FeedRoom,
    ghost: MatrixUserId,
    account: PeopleAccount,
    ref: BlobRef,
  ): Promise<MatrixMediaSource | undefined> {
    let bytes: Buffer;
    try {
      bytes = await account.downloadAttachment(ref);
    } catch (err) {
      const failure = classifyAttachmentFailure(err);
      if (failure.kind === "transient") throw err;
      this.o.log.info({ room: room.roomId, why: failure.why }, "a post's thumbnail is left out");
      return undefined;
    }
    return uploadAsGhost(this.o.ghosts, ghost, room.roomId, bytes, ref.mime);
  }

  private txn(room: FeedRoom, postId: string, part: number): string {
    return `feed.${room.roomId}.${postId}.${part}`;
  }

  private async sendPart(
    room: FeedRoom,
    ghost: MatrixUserId,
    account: PeopleAccount,
    part: PostPart,
    txnKey: string,
  ): Promise<MatrixEventId> {
    const send = (content: Record<string, unknown>) =>
      this.o.ghosts.sendEvent(ghost, room.roomId, "m.room.message", content, txnKey);
    if (part.kind === "text") return send({ msgtype: "m.text", body: part.body });
    const name = part.blob.name ? ` (${part.blob.name})` : "";
    const missing = async (why: string) => {
      const text = `${part.caption ? `${part.caption}\n\n` : ""}[A file${name} of this post ${why}.]`;
      return send(noticeContent(notice(text)));
    };
    if (part.blob.size > this.o.maxMediaBytes) return missing("is too large for the bridge to bring here");
    let media: MatrixMediaSource;
    try {
      const bytes = await account.downloadAttachment(part.blob);
      media = await uploadAsGhost(this.o.ghosts, ghost, room.roomId, bytes, part.blob.mime, part.blob.name);
    } catch (err) {
      const failure = classifyAttachmentFailure(err);
      if (failure.kind === "transient") throw err;
      this.o.log.warn(
        { room: room.roomId, why: failure.why },
        "a post's attachment cannot be brought into Matrix",
      );
      return missing(`cannot be brought here (${failure.why})`);
    }
    // Matrix has no thumbnails for audio: such a thumbnail is not fetched.
    const thumbnail =
      part.thumbnail && !part.blob.mime.startsWith("audio/")
        ? await this.thumbnail(room, ghost, account, part.thumbnail)
        : undefined;
    const event = attachmentToMatrix(
      {
        type: "attachment",
        blob: part.blob,
        ...(thumbnail ? { thumbnail: part.thumbnail } : {}),
        ...(part.caption ? { caption: part.caption } : {}),
      },
      { media, ...(thumbnail ? { thumbnail } : {}) },
      { matrixIdOf: () => undefined },
    );
    if (event.kind !== "event") return missing("cannot be shown");
    return send({ ...event.content });
  }
}
