// Post rooms: rooms where what a Matrix user writes becomes People posts.
// - A post group's room (`group create <name>`): a new People post group the
//   user's account owns (PROTOCOL §11.2: an owner, epochs, the epoch key sealed
//   to each member's devices). Not a group chat: the group portals
//   (src/bridge/portals) carry conversations; this carries posts. The bot makes
//   the room and stays in it to answer; the members are the ghosts the owner
//   invites (post-room-events.ts). Other members' posts arrive by their post
//   notices and are shown from their ghosts, as in a feed room (feed-show.ts).
// - "My public posts" (`posts room`, or the first `post`): the user's public posts.
import type { PeopleAddress } from "../../people/protocol/address.js";
import { KeyedLock } from "../../shared/keyed-lock.js";
import { userError } from "../core/error-kinds.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import type { IncomingMessage, PeopleAccount, PeopleSide, PostWriter } from "../core/ports/people-side.js";
import type { FeedStore, PostRoom, PostRoomStore } from "../core/ports/store.js";
import { FeedShow } from "./feed-show.js";

export const PUBLIC = "public";
export const PUBLIC_ROOM_NAME = "My public posts";
/** Feed entries read per request when a notice reads a member's feed on from the room's cursor. */
const READ_PAGE = 200;

export interface PostRoomsOptions {
  ghosts: GhostSide;
  people: PeopleSide;
  store: PostRoomStore;
  feedStore: FeedStore;
  botUserId: string;
  log: Logger;
  maxMediaBytes: number;
  now?: () => number;
}

export class PostRooms {
  private readonly lock = new KeyedLock();
  private readonly show: FeedShow;
  private readonly now: () => number;

  readonly store: PostRoomStore;

  constructor(private readonly o: PostRoomsOptions) {
    this.store = o.store;
    this.now = o.now ?? Date.now;
    this.show = new FeedShow({
      ghosts: o.ghosts,
      store: o.feedStore,
      log: o.log,
      maxMediaBytes: o.maxMediaBytes,
      now: this.now,
    });
  }

  byRoom(roomId: string): Promise<PostRoom | undefined> {
    return this.o.store.byRoom(roomId);
  }

  /** The account's posting capability, or a clear refusal. */
  async writerOf(user: string): Promise<{ account: PeopleAccount; writer: PostWriter }> {
    const account = await this.o.people.accountFor(user);
    const writer = account.postWriter;
    if (!writer) throw userError("Posting is not available for this account.");
    return { account, writer };
  }

  /**
   * `group create <name>`: a new post group the user owns, and its room (the user invited, admin).
   * The group's id derives from the command's event (`sourceId`), so a command delivered again
   * after a crash finds the same group, and its room when that was recorded, instead of a second.
   */
  async createGroup(user: string, name: string, sourceId: string): Promise<PostRoom> {
    const { account, writer } = await this.writerOf(user);
    const group = await writer.createGroup(name, sourceId);
    return this.lock.run(`${account.owner}\n${group.id}`, async () => {
      const existing = await this.o.store.of(account.owner, group.id);
      if (existing) return existing;
      const room = await this.makeRoom(account.owner, group.id, name, `People post group ${group.id}`);
      this.o.log.info({ room: room.roomId, user: account.owner, group: group.id }, "post group room created");
      return room;
    });
  }

  /** The user's "My public posts" room: made on first use. */
  async publicRoom(user: string): Promise<{ room: PostRoom; created: boolean }> {
    const { account } = await this.writerOf(user);
    return this.lock.run(`${account.owner}\npublic`, async () => {
      const existing = await this.o.store.of(account.owner, PUBLIC);
      if (existing) return { room: existing, created: false };
      const topic = `What you write here is posted publicly from ${account.address}.`;
      return { room: await this.makeRoom(account.owner, PUBLIC, PUBLIC_ROOM_NAME, topic), created: true };
    });
  }

  /** `post <text>`: a public post; its id derives from the command's event. */
  async postPublic(user: string, text: string, sourceId: string): Promise<string> {
    const { writer } = await this.writerOf(user);
    return writer.post(null, { text }, sourceId);
  }

  private async makeRoom(
    user: MatrixUserId,
    audience: string,
    name: string,
    topic: string,
  ): Promise<PostRoom> {
    const roomId = await this.o.ghosts.createGroupRoom(this.o.botUserId as MatrixUserId, {
      name,
      topic,
      invite: [user],
      admins: [user],
    });
    const room: PostRoom = { roomId, matrixUser: user, audience, createdAt: this.now() };
    await this.o.store.put(room);
    return (await this.o.store.of(user, audience)) ?? room;
  }

  /**
   * A post notice for `account` (the feeds feature's own flow): a post to one of the user's
   * post groups by another member is shown in the group's room from the member's ghost.
   * Resolves once shown, so the notice is acknowledged after the post is in the room.
   */
  readonly onNotice = async (account: PeopleAccount, m: IncomingMessage): Promise<void> => {
    if (m.content.type !== "post_notice" || m.content.author !== m.from) return;
    const room = await this.o.store.of(account.owner, m.content.group);
    const reader = account.posts;
    if (!room || !reader) return;
    const postId = m.content.post;
    await this.lock.run(room.roomId, async () => {
      const known = await this.o.feedStore.post(room.roomId, postId);
      if (known && known.state !== "waiting") return;
      const shownAs = {
        roomId: room.roomId,
        matrixUser: room.matrixUser,
        author: m.from,
        cursor: 0,
        createdAt: 0,
      };
      // The member's feed from where this room read it last: the noticed post, and any post of
      // the group whose notice has not come (yet, or ever), in feed order; each shown once.
      let after = await this.o.store.cursorOf(room.roomId, m.from);
      for (;;) {
        const page = await reader.feed(m.from, { after, max: READ_PAGE });
        for (const post of page.posts)
          if (post.group === room.audience) await this.show.show(shownAs, account, post);
        await this.o.store.putCursor(room.roomId, m.from, page.next);
        if (page.next <= after || page.posts.length + page.unopenable.length < READ_PAGE) break;
        after = page.next;
      }
      const shown = await this.o.feedStore.post(room.roomId, postId);
      if (!shown || shown.state === "waiting")
        this.o.log.warn({ room: room.roomId, author: m.from }, "a group post announced but not readable");
    });
  };

  /** The owner left the room: it is forgotten (the People group stays), and the bot leaves. */
  async forget(room: PostRoom): Promise<void> {
    await this.o.store.remove(room.roomId);
    this.o.log.info({ room: room.roomId, audience: room.audience }, "post room forgotten");
  }

  /** The ghost of `address`, registered (for joining a post group's room). */
  async ghostOf(address: PeopleAddress): Promise<MatrixUserId> {
    const ghost = this.o.ghosts.ghostId(address);
    await this.o.ghosts.ensureGhost(ghost, address);
    return ghost;
  }
}
