// Feed rooms: `follow <address>` makes a room where the address's ghost posts
// what the user's People account can open of the address's feed: first the
// newest `backfillLimit` existing posts, oldest first, then new ones as they
// come (a post notice, a group's epoch key arriving, or the periodic read that
// finds public posts, which come with no notice). The room's position in the
// feed (its cursor) moves only after the posts before it are shown, so a
// restart reads again from there and shows each post once (feed-show.ts).
import type { Post } from "../../people/client/post-types.js";
import { addressDomain, type PeopleAddress } from "../../people/protocol/address.js";
import { KeyedLock } from "../../shared/keyed-lock.js";
import { retryLater, userError } from "../core/error-kinds.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import type { IncomingMessage, PeopleAccount, PeopleSide, PostReader } from "../core/ports/people-side.js";
import type { FeedRoom, FeedStore } from "../core/ports/store.js";
import { feedRoomName } from "./feed-content.js";
import { FeedShow } from "./feed-show.js";

/** Failures of one post that may pass (the author's keys not fetched, a busy server). */
const TRANSIENT = new Set(["PEOPLE_UNAVAILABLE", "PEOPLE_INTERNAL", "PEOPLE_RATE_LIMITED"]);
/** Enough for any feed this bridge reads in one go; a longer one is read again from its cursor. */
const MAX_READ = 10_000;

export interface FeedServiceOptions {
  ghosts: GhostSide;
  people: PeopleSide;
  store: FeedStore;
  log: Logger;
  /** How many existing posts a new feed room shows (bridge.feeds.backfill_limit). */
  backfillLimit: number;
  /** How often every feed room reads its feed (bridge.feeds.poll_interval); 0: never. */
  pollIntervalMs: number;
  maxMediaBytes: number;
  now?: () => number;
}

export class FeedService {
  private readonly lock = new KeyedLock();
  private readonly show: FeedShow;
  private readonly now: () => number;
  private readonly watched = new Map<string, () => void>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: FeedServiceOptions) {
    this.now = o.now ?? Date.now;
    this.show = new FeedShow({
      ghosts: o.ghosts,
      store: o.store,
      log: o.log,
      maxMediaBytes: o.maxMediaBytes,
      now: this.now,
    });
  }

  byRoom(roomId: string): Promise<FeedRoom | undefined> {
    return this.o.store.byRoom(roomId);
  }

  /** `follow <address>`: the user's feed room of the address (made now, with the existing posts). */
  async follow(user: string, author: PeopleAddress): Promise<{ room: FeedRoom; created: boolean }> {
    const account = await this.o.people.accountFor(user);
    if (author === account.address) throw userError("That is your own People address.");
    const reader = this.readerOf(account);
    return this.lock.run(`${account.owner}\n${author}`, async () => {
      const existing = await this.o.store.roomOf(account.owner, author);
      if (existing) return { room: existing, created: false };
      const found = await account.lookup(author);
      if (found.status === "unknown") throw userError(`${author} has no People account.`);
      if (found.status === "unreachable")
        throw userError(
          `The People server of ${addressDomain(author)} cannot be reached right now; try again later.`,
          `looking up the address failed: ${found.code}`,
        );
      // Named and pictured from the author's profile; a profile that cannot be read leaves the address.
      const profile = await reader
        .profile(author)
        .catch(() => ({}) as Awaited<ReturnType<PostReader["profile"]>>);
      const ghost = this.o.ghosts.ghostId(author);
      await this.o.ghosts.ensureGhost(ghost, author);
      const roomId = await this.o.ghosts.createGroupRoom(ghost, {
        name: feedRoomName(author, profile.displayName),
        invite: [account.owner],
        admins: [],
      });
      // Cursor -1 until the existing posts are shown: a restart in between backfills again, bounded.
      const pictured = profile.avatar ? await this.picture(ghost, roomId, profile.avatar) : false;
      const room: FeedRoom = {
        roomId,
        matrixUser: account.owner,
        author,
        cursor: -1,
        createdAt: this.now(),
        // What the room shows, so the author's next profile changes it only if it differs (feed-profile.ts).
        shownName: feedRoomName(author, profile.displayName),
        shownAvatar: pictured ? (profile.avatar?.hash ?? "") : "",
      };
      await this.o.store.putRoom(room);
      this.o.log.info({ room: roomId, user: account.owner, author }, "feed room created");
      await this.lock.run(roomId, () => this.backfill(room, account, reader));
      return { room: (await this.o.store.byRoom(roomId)) ?? room, created: true };
    });
  }

  /** The room's avatar from the author's profile picture; best effort (the room works without): true when set. */
  private async picture(
    ghost: MatrixUserId,
    roomId: string,
    avatar: { bytes: Buffer; mime: string },
  ): Promise<boolean> {
    const set = this.o.ghosts.setRoomAvatar?.bind(this.o.ghosts);
    if (!set) return false;
    try {
      await set(ghost, roomId, await this.o.ghosts.uploadMedia(ghost, avatar.bytes, avatar.mime));
      return true;
    } catch (err) {
      this.o.log.warn({ err, room: roomId }, "the feed room's avatar could not be set");
      return false;
    }
  }

  /** `unfollow <address>`: the ghost says so and leaves; the room is forgotten. False when not followed. */
  async unfollow(user: string, author: PeopleAddress): Promise<boolean> {
    const room = await this.o.store.roomOf(user, author);
    if (!room) return false;
    await this.close(room, `You unfollowed ${author}: no more posts come to this room.`);
    return true;
  }

  /** The user left the feed room: it is forgotten, and the ghost leaves too. */
  async left(room: FeedRoom): Promise<void> {
    await this.close(room);
  }

  private async close(room: FeedRoom, text?: string): Promise<void> {
    const ghost = this.o.ghosts.ghostId(room.author as PeopleAddress);
    await this.lock.run(room.roomId, async () => {
      await this.o.store.removeRoom(room.roomId);
      if (text)
        await this.o.ghosts
          .sendEvent(
            ghost,
            room.roomId,
            "m.room.message",
            { msgtype: "m.notice", body: text },
            `feed.${room.roomId}.unfollow`,
          )
          .catch((err: unknown) => this.o.log.warn({ err, room: room.roomId }, "the unfollow notice failed"));
      await this.o.ghosts
        .leave(ghost, room.roomId, text ? "unfollowed" : undefined)
        .catch((err: unknown) => this.o.log.warn({ err, room: room.roomId }, "the ghost could not leave"));
    });
    this.o.log.info({ room: room.roomId, user: room.matrixUser, author: room.author }, "feed room closed");
  }

  /** A post notice for `account` (the feeds feature's own flow): its author's feed room reads on. */
  readonly onNotice = async (account: PeopleAccount, m: IncomingMessage): Promise<void> => {
    if (m.content.type !== "post_notice" || m.content.author !== m.from) return;
    const room = await this.o.store.roomOf(account.owner, m.from);
    // Resolved only once the room has read on: the notice is acknowledged after its post is shown.
    // The account given, not looked up: this runs while the account starts (pending mail redelivered).
    if (room) await this.sync(room, account);
  };

  /** Reads every feed room on (at start, then every poll interval). A failing room does not stop the others. */
  async syncAll(): Promise<void> {
    for (const room of await this.o.store.rooms()) {
      if (this.closed) return;
      await this.sync(room).catch((err: unknown) =>
        this.o.log.warn(
          { err, room: room.roomId, author: room.author },
          "reading a feed failed; tried again later",
        ),
      );
    }
  }

  /** syncAll now and every poll interval. */
  start(): void {
    void this.syncAll();
    if (this.o.pollIntervalMs > 0 && !this.timer) {
      this.timer = setInterval(() => void this.syncAll(), this.o.pollIntervalMs);
      this.timer.unref();
    }
  }

  stop(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const off of this.watched.values()) off();
    this.watched.clear();
  }

  /** Shows what is new in the room's feed, and the waiting posts a key now opens. */
  async sync(room: FeedRoom, given?: PeopleAccount): Promise<void> {
    const account = given ?? (await this.o.people.accountFor(room.matrixUser));
    const reader = this.readerOf(account);
    // The author's ghost profile refreshed when due; the room follows it (feed-profile.ts). Best
    // effort: a homeserver away fails the sends below anyway, and a feed with nothing new must not.
    const author = room.author as PeopleAddress;
    await this.o.ghosts.ensureGhost(this.o.ghosts.ghostId(author), author).catch(() => undefined);
    await this.lock.run(room.roomId, async () => {
      const current = await this.o.store.byRoom(room.roomId);
      if (!current) return;
      if (current.cursor < 0) return this.backfill(current, account, reader);
      await this.retryWaiting(current, account, reader);
      const page = await reader.feed(current.author as PeopleAddress, {
        after: current.cursor,
        max: MAX_READ,
      });
      // A post that failed for now (its author's keys not fetched) stops the read before it, to come again.
      const stop = Math.min(...page.unopenable.filter((u) => TRANSIENT.has(u.code)).map((u) => u.seq));
      const before = <T extends { seq: number }>(xs: readonly T[]) => xs.filter((x) => x.seq < stop);
      await this.apply(current, account, before(page.posts), before(page.unopenable));
      await this.o.store.advance(current.roomId, Number.isFinite(stop) ? stop - 1 : page.next);
    });
  }

  private async backfill(room: FeedRoom, account: PeopleAccount, reader: PostReader): Promise<void> {
    const page = await reader.feed(room.author as PeopleAddress, { after: 0, max: MAX_READ });
    if (page.unopenable.some((u) => TRANSIENT.has(u.code)))
      throw retryLater("a post of the feed could not be read for now; the backfill is tried again");
    const limit = this.o.backfillLimit;
    // The newest posts (edits and retractions of them follow them); older ones stay out of the room.
    const posts = page.posts.filter((p) => p.replaces === undefined && p.retracts === undefined);
    const kept = new Set(posts.slice(Math.max(0, posts.length - limit)).map((p) => p.id));
    const retracted = new Set(page.posts.flatMap((p) => (p.retracts ? [p.retracts] : [])));
    const shown = page.posts.filter((p) => {
      const target = p.replaces ?? p.retracts;
      if (target !== undefined) return kept.has(target) && !retracted.has(target);
      return kept.has(p.id) && !retracted.has(p.id);
    });
    const waiting = page.unopenable.slice(Math.max(0, page.unopenable.length - limit));
    await this.apply(room, account, shown, waiting);
    await this.o.store.advance(room.roomId, page.next);
  }

  private async apply(
    room: FeedRoom,
    account: PeopleAccount,
    posts: readonly Post[],
    unopenable: readonly { id: string; seq: number; group?: string; code: string }[],
  ): Promise<void> {
    for (const post of [...posts].sort((a, b) => a.seq - b.seq)) await this.show.show(room, account, post);
    for (const u of unopenable) {
      // Only a missing key can change; a post that did not verify never will.
      if (u.code !== "PEOPLE_UNKNOWN_KEY" || u.group === undefined) continue;
      if (await this.o.store.post(room.roomId, u.id)) continue;
      await this.o.store.putPost({
        roomId: room.roomId,
        postId: u.id,
        seq: u.seq,
        state: "waiting",
        group: u.group,
      });
    }
  }

  /** The room's posts that waited for a key: each read again alone, shown if it opens now. */
  private async retryWaiting(
    room: FeedRoom,
    account: PeopleAccount,
    reader: PostReader,
    group?: string,
  ): Promise<void> {
    for (const w of await this.o.store.waiting(room.roomId, group)) {
      const page = await reader.feed(room.author as PeopleAddress, { after: w.seq - 1, max: 1 });
      const post = page.posts.find((p) => p.id === w.postId);
      if (post) await this.show.show(room, account, post);
    }
  }

  /** The account's post reader, listening for epoch keys (a waiting post may open now). */
  private readerOf(account: PeopleAccount): PostReader {
    const reader = account.posts;
    if (!reader) throw userError("Following is not available for this account.");
    if (!this.watched.has(account.owner)) {
      this.watched.set(
        account.owner,
        reader.onGroupKey((group) => void this.keyArrived(account.owner, group)),
      );
    }
    return reader;
  }

  private async keyArrived(user: MatrixUserId, group: string): Promise<void> {
    try {
      const account = await this.o.people.accountFor(user);
      const reader = this.readerOf(account);
      for (const room of await this.o.store.rooms()) {
        if (room.matrixUser !== user) continue;
        await this.lock.run(room.roomId, () => this.retryWaiting(room, account, reader, group));
      }
    } catch (err) {
      this.o.log.warn(
        { err, user },
        "showing the posts a new group key opens failed; tried at the next read",
      );
    }
  }
}
