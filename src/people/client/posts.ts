// Posts (DESIGN §2 "Attachments and posts"; PROTOCOL §16.10): an author's
// feed lives on the author's own server. A group post is encrypted on the
// device and opaque to the server; a public post is signed plaintext.
//// The format is protocol: post-body.ts (the signed body, the feed's wire
// shapes) and post-cipher.ts (group post ciphertext) in src/people/protocol.
//
// Readers: a post opens when this device holds the key of its (group, epoch)
// (groups.ts); the signature verifies under the author's pinned account key;
// the body's id, author, group and epoch equal the feed entry's; and the
// author is the group's owner or a member of that epoch. Anything else is
// listed as unopenable, with the reason, and skipped.
import { PeopleError, type ErrorCode } from "../errors.js";
import type { HttpsClient } from "../net/https-client.js";
import { addressDomain, parseAddress, type PeopleAddress } from "../protocol/address.js";
import { b64u, fromB64u } from "../protocol/bytes.js";
import { newMessageId, parseMessageId, type MessageId } from "../protocol/ids.js";
import type { Ed25519PublicKey } from "../protocol/keys.js";
import { MAX_TEXT, type BlobRef, type MessageContent } from "../protocol/messages.js";
import {
  MAX_POST_ATTACHMENTS,
  bodyShapeProblem,
  feedAnswer,
  id16,
  postBodySchema,
  publicWire,
  privateWire,
  type FeedAnswer,
  type FeedEntry,
  type PostAttachmentRef,
  type PostBody,
} from "../protocol/post-body.js";
import { openGroupPost, sealGroupPost } from "../protocol/post-cipher.js";
import { parseBody } from "../protocol/signed-json.js";
import { signBytes, verifyBytes } from "../protocol/signing.js";
import type { Account } from "./account.js";
import { parseAnswer } from "./answers.js";
import type { Attachments, TransferOptions } from "./attachments.js";
import type { Directory } from "./directory.js";
import type { Discovery } from "../net/discovery.js";
import { Emitter } from "./emitter.js";
import type { Groups } from "./groups.js";
import { postBlobIds, uploadPostAttachments } from "./post-attachments.js";
import type { InboxEntry } from "./local-store.js";
import {
  checkBody,
  postReference,
  toPost,
  unopenableOf,
  type FeedResult,
  type Post,
  type PostEvents,
  type PostInput,
  type PublishedPost,
  type UnopenablePost,
} from "./post-types.js";
import type { Session } from "./session.js";
import { errorCode } from "../transient.js";

/** The feed accepts `ciphertext` of at most 358 400 characters and public bodies of 262 144 (PROTOCOL §16.10). */
const MAX_CIPHERTEXT_CHARS = 350 * 1024;
const MAX_PUBLIC_BODY_CHARS = 256 * 1024;
const PAGE = 200;
const CONTACT_MAX_AGE_MS = 30_000;
const MAX_PARKED_PER_GROUP = 100;
const MAX_PARKED_GROUPS = 100;

type Send = (to: readonly string[], content: MessageContent) => Promise<MessageId>;

export class Posts {
  readonly events = new Emitter<PostEvents>();
  /** Per author: the feed position read up to, so a notice usually needs one small page. */
  private readonly cursors = new Map<string, number>();
  private notices: Promise<void> = Promise.resolve();
  /** Notices waiting for their epoch's key, per group. */
  private readonly parked = new Map<string, InboxEntry[]>();

  constructor(
    private readonly o: {
      account: Account;
      groups: Groups;
      directory: Directory;
      discovery: Discovery;
      http: Pick<HttpsClient, "json">;
      session: Session;
      attachments: Attachments;
      send: Send;
      now: () => number;
    },
  ) {
    o.groups.events.on("key", (k) => this.unpark(k.group));
  }

  private get self(): PeopleAddress {
    return this.o.account.address;
  }

  /** Post to a group: encrypted, uploaded to the own feed, announced to the members by a notice. */
  async post(group: string, input: PostInput): Promise<PublishedPost> {
    const epochKey = await this.o.groups.currentKey(group);
    try {
      const { body, blobs, attachments } = await this.prepare(input, {
        group: epochKey.group,
        epoch: epochKey.epoch,
      });
      const ciphertext = sealGroupPost(body, epochKey, this.o.account.accountKey);
      if (ciphertext.length > MAX_CIPHERTEXT_CHARS)
        throw new PeopleError("PEOPLE_TOO_LARGE", "post too large");
      await this.upload(body.id, false, { ciphertext, group: epochKey.group, epoch: epochKey.epoch }, blobs);
      const notice: MessageContent = {
        type: "post_notice",
        author: this.self,
        group: epochKey.group,
        post: body.id,
        epoch: epochKey.epoch,
      };
      const undelivered = await this.announce(
        epochKey.members.filter((m) => m !== this.self),
        notice,
      );
      return { ...toPost(body, attachments, { createdAt: 0, seq: 0 }), undelivered };
    } finally {
      epochKey.key.fill(0);
    }
  }

  /** A public post: signed plaintext anyone may fetch and verify. */
  async postPublic(input: PostInput): Promise<Post> {
    const { body, blobs, attachments } = await this.prepare(input);
    const bytes = Buffer.from(JSON.stringify(body), "utf8");
    const sig = signBytes(this.o.account.accountKey, "post", bytes);
    const wire = { body: b64u(bytes), sig: b64u(sig) };
    if (wire.body.length > MAX_PUBLIC_BODY_CHARS) throw new PeopleError("PEOPLE_TOO_LARGE", "post too large");
    await this.upload(body.id, true, wire, blobs);
    return toPost(body, attachments, { createdAt: 0, seq: 0 });
  }

  /**
   * Read `author`'s feed (after position `after`, up to `max` posts): what the held
   * epoch keys open and what verifies is returned; the rest is listed as unopenable.
   */
  async feed(author: string, o: { after?: number; max?: number } = {}): Promise<FeedResult> {
    const who = parseAddress(author);
    const max = o.max ?? 1000;
    const posts: Post[] = [];
    const unopenable: UnopenablePost[] = [];
    let after = o.after ?? 0;
    for (;;) {
      const page = await this.page(who, after, Math.min(PAGE, max - posts.length - unopenable.length));
      for (const entry of page.posts) {
        try {
          posts.push(await this.open(who, entry));
        } catch (e) {
          if (!(e instanceof PeopleError)) throw e;
          // A network failure while fetching the author's keys is not the post's fault.
          if (e.code === "PEOPLE_UNAVAILABLE") throw e;
          unopenable.push(unopenableOf(entry, e));
        }
      }
      after = page.next;
      if (page.posts.length < PAGE || posts.length + unopenable.length >= max) break;
    }
    this.cursors.set(who, Math.max(this.cursors.get(who) ?? 0, after));
    return { author: who, posts, unopenable, next: after };
  }

  /** Delete one of this account's posts from its feed (its blobs are no longer pinned). */
  async deletePost(postId: string): Promise<void> {
    const id = parseMessageId(postId, "PEOPLE_BAD_REQUEST");
    await this.o.session.json(
      "DELETE",
      `/_people/v1/accounts/${encodeURIComponent(this.self)}/feed/${encodeURIComponent(id)}`,
    );
  }

  /** Download and decrypt a post's attachment, or its thumbnail (from the author's server). */
  download(ref: BlobRef | PostAttachmentRef, o: TransferOptions = {}): Promise<Buffer> {
    // The thumbnail is a blob of its own: the attachment's reference is the rest.
    const { thumbnail: _own, ...blob } = ref as PostAttachmentRef;
    return this.o.attachments.download(blob, o);
  }

  /** A verified `post_notice` (from the receiver): fetched and emitted in the background, in order. */
  notice(m: InboxEntry): void {
    if (m.content.type !== "post_notice") return;
    const c = m.content;
    const fail = (code: ErrorCode, detail: string): void =>
      this.events.emit("error", { author: c.author, post: c.post, code, detail });
    // The signed sender is the author: nobody can announce posts in another's name.
    if (c.author !== m.from) return fail("PEOPLE_FORBIDDEN", "a notice for someone else's post");
    this.notices = this.notices.then(async () => {
      try {
        const held = await this.o.groups.keyFor(c.group, c.epoch);
        held?.key.fill(0);
        // A member's notice can overtake the owner's key for that epoch: wait for the key.
        if (!held) {
          if (this.park(c.group, m)) return;
          return fail("PEOPLE_UNKNOWN_KEY", "no key for the announced post's epoch");
        }
        const entry = await this.find(m.from as PeopleAddress, c.post);
        if (!entry) return fail("PEOPLE_NOT_FOUND", "the announced post is not in the author's feed");
        const post = await this.open(m.from as PeopleAddress, entry);
        if (post.public || post.group !== c.group || post.epoch !== c.epoch)
          return fail("PEOPLE_BAD_ENVELOPE", "the post differs from its notice");
        this.events.emit("post", post);
      } catch (e) {
        fail(errorCode(e), e instanceof Error ? e.message : String(e));
      }
    });
  }

  /** Keep a notice until a key of its group arrives (in memory, bounded); false when full. */
  private park(group: string, m: InboxEntry): boolean {
    const list = this.parked.get(group) ?? [];
    if (
      list.length >= MAX_PARKED_PER_GROUP ||
      (!this.parked.has(group) && this.parked.size >= MAX_PARKED_GROUPS)
    )
      return false;
    list.push(m);
    this.parked.set(group, list);
    return true;
  }

  private unpark(group: string): void {
    const list = this.parked.get(group);
    if (!list) return;
    this.parked.delete(group);
    for (const m of list) this.notice(m);
  }

  /** Settles when the notices received so far have been handled (tests, orderly shutdown). */
  idle(): Promise<void> {
    return this.notices;
  }

  // --- writing ---------------------------------------------------------------

  private async prepare(
    input: PostInput,
    audience?: { group: string; epoch: number },
  ): Promise<{ body: PostBody; blobs: string[]; attachments: PostAttachmentRef[] }> {
    const text = input.text;
    const files = input.attachments ?? [];
    if (text !== undefined && (typeof text !== "string" || text.length > MAX_TEXT))
      throw new PeopleError("PEOPLE_BAD_REQUEST", "post text too long");
    const ref = postReference(input);
    if (!text && files.length === 0 && !ref.retracts)
      throw new PeopleError("PEOPLE_BAD_REQUEST", "an empty post");
    if (files.length > MAX_POST_ATTACHMENTS)
      throw new PeopleError("PEOPLE_BAD_REQUEST", `at most ${MAX_POST_ATTACHMENTS} attachments`);
    const attachments = await uploadPostAttachments(this.o.attachments, files, input.onProgress);
    const body: PostBody = {
      v: 1,
      type: "people.post",
      // A caller-chosen id makes posting again (after a crash) the same post: the feed keeps one.
      id: input.id === undefined ? newMessageId() : parseMessageId(input.id, "PEOPLE_BAD_REQUEST"),
      author: this.self,
      ts: this.o.now(),
      ...(audience ? { group: audience.group, epoch: audience.epoch } : {}),
      ...(text ? { text } : {}),
      ...(attachments.length > 0 ? { attachments } : {}),
      ...ref,
    };
    const problem = bodyShapeProblem(body);
    if (problem) throw new PeopleError("PEOPLE_BAD_REQUEST", problem);
    return { body, blobs: postBlobIds(attachments), attachments };
  }

  private async upload(postId: string, isPublic: boolean, post: object, blobs: string[]): Promise<void> {
    await this.o.session.json("POST", `/_people/v1/accounts/${encodeURIComponent(this.self)}/feed`, {
      post_id: postId,
      public: isPublic,
      post,
      blobs,
    });
  }

  private async announce(
    members: readonly string[],
    notice: MessageContent,
  ): Promise<PublishedPost["undelivered"]> {
    if (members.length === 0) return [];
    try {
      // One message to the whole group: the members already know each other.
      await this.o.send(members, notice);
      return [];
    } catch {
      // One member whose keys cannot be had must not keep the notice from the others.
      const undelivered: PublishedPost["undelivered"] = [];
      for (const address of members) {
        try {
          await this.o.send([address], notice);
        } catch (e) {
          undelivered.push({ address, code: errorCode(e) });
        }
      }
      return undelivered;
    }
  }

  // --- reading ---------------------------------------------------------------

  private async page(author: PeopleAddress, after: number, limit: number): Promise<FeedAnswer> {
    const url = await this.o.discovery.resolve(addressDomain(author));
    const json = await this.o.http.json(
      "GET",
      `${url}/_people/v1/accounts/${encodeURIComponent(author)}/feed?after=${after}&limit=${Math.max(1, limit)}`,
    );
    return parseAnswer(feedAnswer, json, "feed");
  }

  /** The feed entry of one post: from the cursor on, then (a notice that came late) from the start. */
  private async find(author: PeopleAddress, postId: string): Promise<FeedEntry | undefined> {
    const cursor = this.cursors.get(author) ?? 0;
    for (const start of cursor > 0 ? [cursor, 0] : [0]) {
      let after = start;
      for (;;) {
        const page = await this.page(author, after, PAGE);
        const hit = page.posts.find((p) => p.post_id === postId);
        if (page.posts.length > 0) after = page.next;
        if (start === cursor) this.cursors.set(author, Math.max(this.cursors.get(author) ?? 0, after));
        if (hit) return hit;
        if (page.posts.length < PAGE) break;
      }
    }
    return undefined;
  }

  private async open(author: PeopleAddress, entry: FeedEntry): Promise<Post> {
    const meta = { createdAt: entry.created_at, seq: entry.seq };
    if (entry.public) {
      const wire = publicWire.safeParse(entry.post);
      if (!wire.success) throw new PeopleError("PEOPLE_BAD_JSON", "malformed public post");
      const bytes = fromB64u(wire.data.body);
      const sig = fromB64u(wire.data.sig);
      if (!bytes || !sig) throw new PeopleError("PEOPLE_BAD_SIGNATURE", "public post is not signed");
      if (!verifyBytes(await this.authorKey(author), "post", bytes, sig))
        throw new PeopleError("PEOPLE_BAD_SIGNATURE", "public post: the author's signature does not verify");
      const body = parseBody(bytes, postBodySchema, "public post", "PEOPLE_BAD_JSON");
      if (body.group !== undefined || body.epoch !== undefined)
        throw new PeopleError("PEOPLE_BAD_JSON", "a group post's body published as public");
      checkBody(body, author, entry.post_id);
      return toPost(body, body.attachments ?? [], meta);
    }
    const wire = privateWire.safeParse(entry.post);
    if (!wire.success) throw new PeopleError("PEOPLE_BAD_JSON", "malformed group post");
    const { group, epoch, ciphertext } = wire.data;
    if (!id16.safeParse(group).success) throw new PeopleError("PEOPLE_BAD_JSON", "malformed group id");
    const epochKey = await this.o.groups.keyFor(group, epoch);
    if (!epochKey) throw new PeopleError("PEOPLE_UNKNOWN_KEY", "no key for this group epoch here");
    let bytes: Buffer;
    let sig: Buffer;
    try {
      ({ bytes, sig } = openGroupPost(ciphertext, epochKey, author, entry.post_id));
    } finally {
      epochKey.key.fill(0);
    }
    if (author !== epochKey.owner && !epochKey.members.includes(author))
      throw new PeopleError("PEOPLE_FORBIDDEN", "the author was not a member of that epoch");
    if (!verifyBytes(await this.authorKey(author), "post", bytes, sig))
      throw new PeopleError("PEOPLE_BAD_SIGNATURE", "group post: the author's signature does not verify");
    const body = parseBody(bytes, postBodySchema, "group post", "PEOPLE_BAD_JSON");
    if (body.group !== group || body.epoch !== epoch)
      throw new PeopleError("PEOPLE_BAD_JSON", "the post names another group or epoch than its feed entry");
    checkBody(body, author, entry.post_id);
    return toPost(body, body.attachments ?? [], meta);
  }

  /** The author's pinned account key (this account's own, for its own posts). */
  private async authorKey(author: PeopleAddress): Promise<Ed25519PublicKey> {
    if (author === this.self) return this.o.account.accountKey.publicKey;
    const r = await this.o.directory.resolve(author, CONTACT_MAX_AGE_MS);
    if (r.status === "unexplained")
      throw new PeopleError("PEOPLE_CHAIN_FORK", `keys of ${author} changed in an unexplained way`);
    return r.contact.accountKey;
  }
}
