// What the client's posts API takes and gives: posts as read and published,
// and the ones a reader could not open, with the reason.
import { PeopleError, type ErrorCode } from "../errors.js";
import type { ProgressFn } from "../net/https-client.js";
import { isPeopleAddress, type PeopleAddress } from "../protocol/address.js";
import {
  bodyShapeProblem,
  privateWire,
  type FeedEntry,
  type PostAttachmentRef,
  type PostBody,
} from "../protocol/post-body.js";
import { parseMessageId } from "../protocol/ids.js";
import type { AttachmentMeta } from "./attachments.js";

export interface PostAttachment extends AttachmentMeta {
  bytes: Buffer;
  /** A small raster image shown in its place (a video's first frame); its own blob. None when left out. */
  thumbnail?: PostThumbnail;
}

/** A thumbnail's bytes and type; its width and height are measured from the bytes. */
export interface PostThumbnail {
  bytes: Buffer;
  mime: string;
}

export interface PostInput {
  /** The post's id (22 base64url characters); a new random one when left out. */
  id?: string;
  text?: string;
  /** Uploaded encrypted to the own server; the post carries their references (and keys). */
  attachments?: PostAttachment[];
  /** An edit: the new text and attachments of this account's post with that id (PROTOCOL §11.2). */
  replaces?: string;
  /** A retraction of this account's post with that id: no text or attachments with it. */
  retracts?: string;
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
  /** Each with its thumbnail, when the author gave one. */
  attachments: PostAttachmentRef[];
  /** An edit of the author's post with this id. */
  replaces?: string;
  /** A retraction of the author's post with this id (no text, no attachments). */
  retracts?: string;
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

export function checkBody(body: PostBody, author: PeopleAddress, postId: string): void {
  if (body.author !== author || !isPeopleAddress(body.author))
    throw new PeopleError("PEOPLE_FORBIDDEN", "the post names another author than the feed's");
  if (body.id !== postId)
    throw new PeopleError("PEOPLE_BAD_JSON", "the post's id differs from its feed entry");
  const problem = bodyShapeProblem(body);
  if (problem) throw new PeopleError("PEOPLE_BAD_JSON", problem);
}

export function toPost(
  body: PostBody,
  attachments: PostAttachmentRef[],
  meta: { createdAt: number; seq: number },
): Post {
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
    ...(body.replaces !== undefined ? { replaces: body.replaces } : {}),
    ...(body.retracts !== undefined ? { retracts: body.retracts } : {}),
  };
}

export function unopenableOf(entry: FeedEntry, e: PeopleError): UnopenablePost {
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

/** The edit or retraction a post input names, as body members (ids checked). */
export function postReference(input: PostInput): { replaces?: string; retracts?: string } {
  const out: { replaces?: string; retracts?: string } = {};
  for (const key of ["replaces", "retracts"] as const) {
    const id = input[key];
    if (id === undefined) continue;
    out[key] = parseMessageId(id, "PEOPLE_BAD_REQUEST");
  }
  return out;
}
