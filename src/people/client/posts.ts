// Posts (DESIGN §2 "Attachments and posts"; PROTOCOL §16.10): an author's
// feed lives on the author's own server. A group post is encrypted on the
// device and opaque to the server; a public post is signed plaintext.
//
// Every post body is canonical JSON signed by the author's ACCOUNT key with
// label "post" (PROTOCOL §5):
//   {"v":1,"type":"people.post","id","author","ts",["group","epoch",]["text",]["attachments"]}
// `group` and `epoch` are present exactly in group posts, so a signed group
// post body is never a valid public post body and vice versa.
//
// Group post, the feed's `ciphertext` (base64url of):
//   "PPL" 01 "P" (5) || wrap nonce (24) || wrap (48) || body ciphertext
//   A    = header || u8 len(author) || author || post id (16) || group id (16) || u64 epoch
//   wrap = XChaCha20-Poly1305(epoch key, wrap nonce, aad = A, post key)
//   body ciphertext = ChaCha20-Poly1305-IETF(post key, nonce = 12 zero bytes, aad = A, P)
//   P    = u32 L || body (L bytes) || signature (64) || zero padding to padded_length(68 + L)
// The post key is 32 fresh random bytes per post and encrypts exactly one
// plaintext, so the zero nonce is safe (as the content key of §9.3). The
// epoch key wraps many post keys, hence XChaCha20 with a random 24-byte nonce.
// The AAD binds the ciphertext to its author, post id, group and epoch, and
// the signed body repeats them, so a server cannot move a post elsewhere.
//
// Readers: a post opens when this device holds the key of its (group, epoch)
// (groups.ts); the signature verifies under the author's pinned account key;
// the body's id, author, group and epoch equal the feed entry's; and the
// author is the group's owner or a member of that epoch. Anything else is
// listed as unopenable, with the reason, and skipped.
import { z } from "zod";
import sodium from "sodium-native";
import { PeopleError, type ErrorCode } from "../errors.js";
import type { HttpsClient, ProgressFn } from "../net/https-client.js";
import { addressDomain, isPeopleAddress, parseAddress, type PeopleAddress } from "../protocol/address.js";
import { b64u, fromB64u, u32, u64 } from "../protocol/bytes.js";
import { aeadOpen, aeadSeal } from "../protocol/hpke.js";
import { newMessageId, parseMessageId, type MessageId } from "../protocol/ids.js";
import { randomSecret, type Ed25519PublicKey } from "../protocol/keys.js";
import { MAX_TEXT, blobRefSchema, type BlobRef, type MessageContent } from "../protocol/messages.js";
import { paddedLength } from "../protocol/padding.js";
import { parseBody } from "../protocol/signed-json.js";
import { signBytes, verifyBytes } from "../protocol/signing.js";
import type { Account } from "./account.js";
import { parseAnswer } from "./answers.js";
import type { AttachmentMeta, Attachments, TransferOptions } from "./attachments.js";
import type { Directory } from "./directory.js";
import type { Discovery } from "./discovery.js";
import { Emitter } from "./emitter.js";
import type { EpochKey, Groups } from "./groups.js";
import type { InboxEntry } from "./local-store.js";
import type { Session } from "./session.js";
import { errorCode } from "./transient.js";

const HEADER = Buffer.from([0x50, 0x50, 0x4c, 0x01, 0x50]); // "PPL" 1 "P"
const WRAP_NONCE = 24;
const WRAP_LEN = 32 + 16;
const BODY_AT = HEADER.length + WRAP_NONCE + WRAP_LEN;
const ZERO_NONCE = Buffer.alloc(12);
/** The feed accepts `ciphertext` of at most 358 400 characters and public bodies of 262 144 (PROTOCOL §16.10). */
const MAX_CIPHERTEXT_CHARS = 350 * 1024;
const MAX_PUBLIC_BODY_CHARS = 256 * 1024;
export const MAX_POST_ATTACHMENTS = 16;
const PAGE = 200;
const CONTACT_MAX_AGE_MS = 30_000;
const MAX_PARKED_PER_GROUP = 100;
const MAX_PARKED_GROUPS = 100;

const id16 = z.string().regex(/^[A-Za-z0-9_-]{21}[AQgw]$/);
const postBodySchema = z.strictObject({
  v: z.literal(1),
  type: z.literal("people.post"),
  id: id16,
  author: z.string().min(3).max(254),
  ts: z.number().int().min(0).max(8.64e15),
  group: id16.optional(),
  epoch: z.number().int().min(0).optional(),
  text: z.string().max(MAX_TEXT).optional(),
  attachments: z.array(blobRefSchema).min(1).max(MAX_POST_ATTACHMENTS).optional(),
});
type PostBody = z.infer<typeof postBodySchema>;

const feedAnswer = z.object({
  posts: z.array(
    z.object({
      seq: z.number().int().min(0),
      post_id: z.string().max(64),
      public: z.boolean(),
      created_at: z.number(),
      post: z.unknown(),
      blobs: z.array(z.string()),
    }),
  ),
  next: z.number().int().min(0),
});
type FeedEntry = z.infer<typeof feedAnswer>["posts"][number];

const publicWire = z.strictObject({ body: z.string(), sig: z.string() });
const privateWire = z.strictObject({
  ciphertext: z.string(),
  group: z.string(),
  epoch: z.number().int().min(0),
});

export interface PostAttachment extends AttachmentMeta {
  bytes: Buffer;
}

export interface PostInput {
  text?: string;
  /** Uploaded encrypted to the own server; the post carries their references (and keys). */
  attachments?: PostAttachment[];
  /** Bytes of the attachments uploaded so far (encrypted, all files together), and their total. */
  onProgress?: ProgressFn;
}

export interface Post {
  id: string;
  author: PeopleAddress;
  /** When the author signed it (the author's claim). */
  ts: number;
  /** When the author's server stored it; 0 for a post not read from a feed. */
  createdAt: number;
  /** The feed's position of the post; 0 for a post not read from a feed. */
  seq: number;
  public: boolean;
  group?: string;
  epoch?: number;
  text?: string;
  attachments: BlobRef[];
}

export interface UnopenablePost {
  id: string;
  seq: number;
  public: boolean;
  group?: string;
  epoch?: number;
  /** PEOPLE_UNKNOWN_KEY: no key for that epoch here; others: it did not decrypt or verify. */
  code: ErrorCode;
  detail: string;
}

export interface FeedResult {
  author: PeopleAddress;
  posts: Post[];
  /** Posts skipped because they could not be opened or did not verify. */
  unopenable: UnopenablePost[];
  /** The last feed position read: pass as `after` to read only newer posts. */
  next: number;
}

export interface PublishedPost extends Post {
  /** Group members the notice could not be sealed to (they still find the post in the feed). */
  undelivered: { address: string; code: ErrorCode }[];
}

export interface PostEvents {
  /** A group member's post announced by a notice, fetched, decrypted and verified. */
  post: Post;
  /** A notice whose post could not be fetched or opened. */
  error: { author: string; post: string; code: ErrorCode; detail: string };
}

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
      const ciphertext = sealGroupPost(body, epochKey, this.o.account);
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

  /** Download and decrypt a post's attachment (from the author's server). */
  download(ref: BlobRef, o: TransferOptions = {}): Promise<Buffer> {
    return this.o.attachments.download(ref, o);
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
  ): Promise<{ body: PostBody; blobs: string[]; attachments: BlobRef[] }> {
    const text = input.text;
    const files = input.attachments ?? [];
    if (text !== undefined && (typeof text !== "string" || text.length > MAX_TEXT))
      throw new PeopleError("PEOPLE_BAD_REQUEST", "post text too long");
    if (!text && files.length === 0) throw new PeopleError("PEOPLE_BAD_REQUEST", "an empty post");
    if (files.length > MAX_POST_ATTACHMENTS)
      throw new PeopleError("PEOPLE_BAD_REQUEST", `at most ${MAX_POST_ATTACHMENTS} attachments`);
    const attachments: BlobRef[] = [];
    // Each file's ciphertext is its plaintext and a 16-byte tag.
    const total = files.reduce((n, f) => n + f.bytes.length + 16, 0);
    let before = 0;
    for (const { bytes, ...meta } of files) {
      const onProgress = input.onProgress;
      const base = before;
      attachments.push(
        await this.o.attachments.upload(
          bytes,
          meta,
          onProgress ? { onProgress: (done) => onProgress(base + done, total) } : {},
        ),
      );
      before += bytes.length + 16;
    }
    const body: PostBody = {
      v: 1,
      type: "people.post",
      id: newMessageId(),
      author: this.self,
      ts: this.o.now(),
      ...(audience ? { group: audience.group, epoch: audience.epoch } : {}),
      ...(text ? { text } : {}),
      ...(attachments.length > 0 ? { attachments } : {}),
    };
    return { body, blobs: [...new Set(attachments.map((a) => a.id))], attachments };
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

  private async page(
    author: PeopleAddress,
    after: number,
    limit: number,
  ): Promise<z.infer<typeof feedAnswer>> {
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

function checkBody(body: PostBody, author: PeopleAddress, postId: string): void {
  if (body.author !== author || !isPeopleAddress(body.author))
    throw new PeopleError("PEOPLE_FORBIDDEN", "the post names another author than the feed's");
  if (body.id !== postId)
    throw new PeopleError("PEOPLE_BAD_JSON", "the post's id differs from its feed entry");
}

function toPost(body: PostBody, attachments: BlobRef[], meta: { createdAt: number; seq: number }): Post {
  return {
    id: body.id,
    author: body.author as PeopleAddress,
    ts: body.ts,
    createdAt: meta.createdAt,
    seq: meta.seq,
    public: body.group === undefined,
    ...(body.group !== undefined ? { group: body.group, epoch: body.epoch! } : {}),
    ...(body.text !== undefined ? { text: body.text } : {}),
    attachments,
  };
}

function unopenableOf(entry: FeedEntry, e: PeopleError): UnopenablePost {
  const wire = entry.public ? undefined : privateWire.safeParse(entry.post);
  return {
    id: entry.post_id,
    seq: entry.seq,
    public: entry.public,
    ...(wire?.success ? { group: wire.data.group, epoch: wire.data.epoch } : {}),
    code: e.code,
    detail: e.message,
  };
}

function postAad(author: string, postId: string, group: string, epoch: number): Buffer {
  const a = Buffer.from(author, "utf8");
  return Buffer.concat([
    HEADER,
    Buffer.from([a.length]),
    a,
    Buffer.from(postId, "base64url"),
    Buffer.from(group, "base64url"),
    u64(epoch),
  ]);
}

function sealGroupPost(body: PostBody, epochKey: EpochKey, account: Account): string {
  const bytes = Buffer.from(JSON.stringify(body), "utf8");
  const sig = signBytes(account.accountKey, "post", bytes);
  const plaintext = Buffer.alloc(paddedLength(4 + bytes.length + 64));
  u32(bytes.length).copy(plaintext, 0);
  bytes.copy(plaintext, 4);
  sig.copy(plaintext, 4 + bytes.length);
  const aad = postAad(body.author, body.id, epochKey.group, epochKey.epoch);
  const postKey = randomSecret();
  try {
    const nonce = Buffer.allocUnsafe(WRAP_NONCE);
    sodium.randombytes_buf(nonce);
    const wrap = Buffer.allocUnsafe(WRAP_LEN);
    sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(wrap, postKey, aad, null, nonce, epochKey.key);
    const sealed = aeadSeal(postKey, ZERO_NONCE, aad, plaintext);
    return b64u(Buffer.concat([HEADER, nonce, wrap, sealed]));
  } finally {
    sodium.sodium_memzero(postKey);
    sodium.sodium_memzero(plaintext);
  }
}

function openGroupPost(
  ciphertext: string,
  epochKey: EpochKey,
  author: string,
  postId: string,
): { bytes: Buffer; sig: Buffer } {
  const raw = fromB64u(ciphertext);
  if (!raw || raw.length < BODY_AT + 16 || !raw.subarray(0, HEADER.length).equals(HEADER))
    throw new PeopleError("PEOPLE_BAD_ENVELOPE", "not a group post ciphertext");
  if (!/^[A-Za-z0-9_-]{21}[AQgw]$/.test(postId))
    throw new PeopleError("PEOPLE_BAD_JSON", "malformed post id");
  const aad = postAad(author, postId, epochKey.group, epochKey.epoch);
  const postKey = Buffer.alloc(32);
  let plaintext: Buffer;
  try {
    try {
      sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        postKey,
        null,
        raw.subarray(HEADER.length + WRAP_NONCE, BODY_AT),
        aad,
        raw.subarray(HEADER.length, HEADER.length + WRAP_NONCE),
        epochKey.key,
      );
    } catch (cause) {
      throw new PeopleError("PEOPLE_DECRYPT_FAILED", "the post key does not unwrap", { cause });
    }
    plaintext = aeadOpen(postKey, ZERO_NONCE, aad, raw.subarray(BODY_AT));
  } finally {
    sodium.sodium_memzero(postKey);
  }
  const length = plaintext.length >= 4 ? plaintext.readUInt32BE(0) : -1;
  if (length < 0 || 68 + length > plaintext.length || paddedLength(68 + length) !== plaintext.length)
    throw new PeopleError("PEOPLE_BAD_ENVELOPE", "malformed group post plaintext");
  for (let i = 68 + length; i < plaintext.length; i++)
    if (plaintext[i] !== 0) throw new PeopleError("PEOPLE_BAD_ENVELOPE", "group post padding is not zero");
  return {
    bytes: Buffer.from(plaintext.subarray(4, 4 + length)),
    sig: Buffer.from(plaintext.subarray(4 + length, 68 + length)),
  };
}
