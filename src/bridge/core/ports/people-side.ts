// The bridge core's view of People: for each Matrix user it serves, the
// People account the bridge holds (one device, kept by the bridge), what it
// can send and what arrives for it. Only accounts/ knows the PeopleClient;
// the portals depend on these types alone.
import type { PeopleAddress } from "../../../people/protocol/address.js";
import type { MessageId } from "../../../people/protocol/ids.js";
import type { BlobRef, MessageContent } from "../../../people/protocol/messages.js";
import type { MatrixUserId } from "../../model/matrix-ids.js";
import type { FeedResult } from "../../../people/client/post-types.js";

/** A verified message that arrived for a Matrix user's People account. */
export interface IncomingMessage {
  id: MessageId;
  from: PeopleAddress;
  to: readonly PeopleAddress[];
  /** The sender's timestamp (ms). */
  ts: number;
  content: MessageContent;
}

/** The own address an account's DM portals (and their message mappings) are keyed by. */
export function portalOwnerOf(account: Pick<PeopleAccount, "address" | "portalOwner">): PeopleAddress {
  return account.portalOwner ?? account.address;
}

/** Whether an address has a People account, as far as its server says. */
export type Lookup =
  | { status: "exists" }
  | { status: "unknown" }
  /** The address's domain does not exist, so it has no People server (a DNS answer, not an outage). */
  | { status: "no_server"; domain: string }
  /** No definite answer: the server could not be reached, or answered with something unusable. */
  | { status: "unreachable"; code: string };

/**
 * What is known of a contact's keys, just fetched (or the saved view when
 * their server cannot be reached: `stale`). "new": pinned now, on first use;
 * "continued": changed as their account signed (rotation, new or revoked
 * device); "unexplained": changed in a way their account did not sign, so the
 * old pin is kept, their mail is held and nothing is sealed to them until the
 * user accepts the change.
 */
export interface ContactTrust {
  address: PeopleAddress;
  state: "new" | "unchanged" | "continued" | "unexplained";
  /** The user compared safety numbers and marked them verified (cleared by an accepted change). */
  verified: boolean;
  /** The pinned devices and the sequence number of each one's current key. */
  devices: { device: string; seq: number }[];
  stale: boolean;
}

/** Safety numbers (60 digits in groups of 5) of the user's account and a contact's. */
export interface SafetyNumbers {
  /** The contact's keys, as the numbers were computed. */
  contact: ContactTrust;
  /** Of the pinned keys. */
  current: string;
  /** Of the changed keys waiting for acceptChange(), after an unexplained change. */
  pending?: string;
}

/** One device of the user's own People account. */
export interface OwnDevice {
  device: string;
  /** The device the bridge holds. */
  self: boolean;
  seq: number;
  revoked: boolean;
}

/** A contact's keys changed: as their account signed (`continued`), or not (`unexplained`). */
export type KeyChange =
  | {
      kind: "continued";
      address: PeopleAddress;
      added: string[];
      rotated: string[];
      removed: string[];
    }
  | { kind: "unexplained"; address: PeopleAddress; code: string }
  /** The contact moved to `to`, proven by the account key pinned for `address` (PROTOCOL §20). */
  | { kind: "moved"; address: PeopleAddress; to: PeopleAddress }
  /** A notice claiming that `address` moved was refused: not signed by its pinned account key. */
  | { kind: "move_refused"; address: PeopleAddress; code: string };

/** Called when a contact of `account` changed keys; a failure is logged, nothing is retried. */
export type KeyChangeHandler = (account: PeopleAccount, change: KeyChange) => Promise<void>;

export interface PeopleAccount {
  readonly owner: MatrixUserId;
  readonly address: PeopleAddress;
  /**
   * The own address the account's DM portals belong to: the address it was made or logged in
   * with, kept when the account moves (`move`); absent: `address`. See portalOwnerOf.
   */
  readonly portalOwner?: PeopleAddress;
  /** The bridge's device of the account (a history archive names the device it is for). */
  readonly device?: string;
  /**
   * Seals and queues one message (to one address, or to a group conversation's
   * participants, each of whom must be reachable); resolves with its id once it is durably in
   * the outbox. With `sourceId` (the Matrix event id) the People message id is
   * derived from it, so sending again after a crash gives the recipient the
   * same message, which it keeps once.
   */
  send(
    to: PeopleAddress | readonly PeopleAddress[],
    content: MessageContent,
    options?: { ttlMs?: number; sourceId?: string },
  ): Promise<MessageId>;
  /**
   * Optional: send() resolving once the copies are committed (a crash keeps them), with
   * `durable`, the fsync after which a power loss does too; nothing relying on the message
   * may be acknowledged or recorded before it.
   */
  queue?(
    to: PeopleAddress | readonly PeopleAddress[],
    content: MessageContent,
    options?: { ttlMs?: number; sourceId?: string },
  ): Promise<{ messageId: MessageId; durable: Promise<void> }>;
  /** Encrypts and uploads attachment bytes to the account's People server (nothing is sent yet). */
  uploadAttachment(bytes: Buffer, meta: { mime: string; name?: string }): Promise<BlobRef>;
  /** Fetches and decrypts an attachment a message points at (its hash checked). */
  downloadAttachment(ref: BlobRef): Promise<Buffer>;
  lookup(address: PeopleAddress): Promise<Lookup>;
  // Trust. Each throws a user_error BridgeError (errors.ts), with a text for the user, when the address has
  // no People account or its server cannot be reached (and nothing is saved).
  /** The contact's keys, fetched now (pinned on first use). */
  contact(address: PeopleAddress): Promise<ContactTrust>;
  /** Everyone the account has messages from or to, with what is saved of their keys. */
  contacts(): Promise<ContactTrust[]>;
  /** The safety numbers to compare with the contact (fetching their keys first). */
  fingerprint(address: PeopleAddress): Promise<SafetyNumbers>;
  /** The user compared safety numbers: marks a pinned contact verified (refused while a change waits). */
  verify(address: PeopleAddress): Promise<void>;
  /** Accepts an unexplained change: pins the new keys (unverified) and reads the mail held meanwhile. */
  acceptChange(address: PeopleAddress): Promise<SafetyNumbers>;
  /** The devices of the user's own account. */
  ownDevices(): Promise<OwnDevice[]>;
  /** Optional capability: reading posts (feed rooms). */
  readonly posts?: PostReader;
  /** Optional capability: posting, and the post groups the account owns (post rooms). */
  readonly postWriter?: PostWriter;
  /** Optional capability: voice and video calls, signalling only (bridge/calls, bridge/rtc). */
  readonly calls?: PeopleCalls;
}

/** What a post made from Matrix carries; its id derives from the Matrix event (posting again is the same post). */
export interface PostDraft {
  text?: string;
  /** Each file with its thumbnail, when the Matrix event had a usable one (left out if it is no image). */
  attachments?: { bytes: Buffer; mime: string; name?: string; thumbnail?: { bytes: Buffer; mime: string } }[];
  /** An edit of the account's post with that id. */
  replaces?: string;
  /** A retraction of the account's post with that id. */
  retracts?: string;
}

/** A post group's change: its epoch now, and the members its key could not be sealed to. */
export interface PostGroupChange {
  epoch: number;
  undelivered: { address: string; code: string }[];
}

/** An account's own posts and post groups (PROTOCOL §11.2: owner, epochs, keys to the members). */
export interface PostWriter {
  /**
   * A new post group owned by the account, with no other member yet. `sourceId` (the Matrix event
   * that asked) derives the group's id, so a redelivered request returns the same group.
   */
  createGroup(name: string, sourceId: string): Promise<{ id: string; epoch: number }>;
  /** Adds a member: a new epoch whose key the member's devices get. */
  addMember(group: string, member: PeopleAddress): Promise<PostGroupChange>;
  /** Removes a member: a new epoch whose key goes to the others only. */
  removeMember(group: string, member: PeopleAddress): Promise<PostGroupChange>;
  /** Renames the group (the members get the name with the key they hold). */
  rename(group: string, name: string): Promise<void>;
  /** Sets the group's topic ("" for none) and picture (null for none), as a rename does its name. */
  setDetails(
    group: string,
    details: { topic?: string; avatar?: { bytes: Buffer; mime: string } | null },
  ): Promise<void>;
  members(group: string): Promise<PeopleAddress[]>;
  /** Optional: the group's name, topic and picture as the account holds them now (its newest key's). */
  details?(group: string): Promise<{ name: string | null; topic: string | null; avatar: BlobRef | null }>;
  /**
   * Posts to the group (or publicly, with null); resolves with the post's id once it is in the
   * feed. `sourceId` (the Matrix event id) derives the id, so a redelivered event is the same post.
   */
  post(group: string | null, draft: PostDraft, sourceId: string): Promise<string>;
}

/** An ICE candidate as People carries it (PROTOCOL §11.3.1): "" ends the candidates. */
export interface CallCandidate {
  candidate: string;
  mid?: string;
  index?: number;
}

/** What a People call leg tells its driver; `ended.remote`: the People peer ended it. */
export interface CallLegEvents {
  /** The People device's SDP answer (to a call the account placed). */
  remoteSdp: string;
  remoteCandidates: CallCandidate[];
  ended: {
    reason: "normal" | "busy" | "declined" | "failed" | "timeout" | "answered_elsewhere" | "replaced";
    remote: boolean;
  };
}

/**
 * One People call of the account, driven on behalf of a Matrix client that holds the media:
 * the client's SDP and candidates go to the People device, the device's come back here.
 * The bridge opens no media (signalling only).
 */
export interface CallLeg {
  /** The People session id. */
  readonly session: string;
  readonly media: "voice" | "video";
  /** The People device that answered (or offered); undefined while every device rings. */
  peerDevice(): string | undefined;
  /** Candidates the Matrix client gathered. */
  addLocalCandidates(candidates: readonly CallCandidate[]): void;
  /** Ends the call; the People device is told (a Matrix hangup's reason, "normal" by default). */
  hangup(reason?: "normal" | "busy" | "failed" | "timeout"): Promise<void>;
  /** Optional: media flows (the driver's own stack connected), so the leg stops waiting to connect. */
  connected?(): void;
  on<K extends keyof CallLegEvents>(event: K, listener: (value: CallLegEvents[K]) => void): () => void;
}

/** A People call ringing on the account's device (its caller's offer). */
export interface RingingCall {
  session: string;
  from: PeopleAddress;
  device: string;
  media: "voice" | "video";
  sdp: string;
}

/** Calls of an account, signalling only: the SDP is always the Matrix client's. */
export interface PeopleCalls {
  /** Rings every device of `to`; `ringMs` without an answer ends it with "timeout". */
  place(to: PeopleAddress, o: { media: "voice" | "video"; sdp: string; ringMs: number }): Promise<CallLeg>;
  /** The call ringing here with this session id (undefined when it is gone). */
  ringing(session: string): RingingCall | undefined;
  answer(session: string, sdp: string): Promise<CallLeg>;
  reject(session: string, reason: "declined" | "busy"): Promise<void>;
  /** Tells every device of `to` that a call this device no longer holds (lost in a restart) is over. */
  hangupLost(to: PeopleAddress, session: string): Promise<void>;
  /**
   * Optional: the ICE servers a call of the account uses (its People server's TURN relay, with
   * fresh credentials), for a bridge-held peer such as a MatrixRTC call's People leg.
   */
  iceServers?(): Promise<CallIceServer[]>;
}

/** A STUN or TURN server for a call's peer (RTCIceServer's shape). */
export interface CallIceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

/** An account's view of others' posts: what it can open, and when a group's epoch key arrives. */
export interface PostReader {
  /** The author's posts after feed position `after` (at most `max`), opened or listed as unopenable. */
  feed(author: PeopleAddress, o: { after: number; max: number }): Promise<FeedResult>;
  /** The author's display name and avatar from their signed People profile (what they have of them). */
  profile(author: PeopleAddress): Promise<{
    displayName?: string;
    /** `hash`: the avatar's blob id (SHA-256 of the bytes), as ghost profiles record it. */
    avatar?: { bytes: Buffer; mime: string; hash?: string };
  }>;
  /** Called when an epoch key of a group arrives; returns the unsubscribe function. */
  onGroupKey(handler: (group: string) => void): () => void;
}

/**
 * Called for each message that arrives for `account`. The message is
 * acknowledged to the People server only after the promise resolves; a
 * rejection has it delivered again later.
 */
export type IncomingHandler = (account: PeopleAccount, message: IncomingMessage) => Promise<void>;

export interface PeopleSide {
  /** The People address a Matrix user has (or would get); throws a user_error BridgeError when it cannot have one. */
  addressFor(userId: string): PeopleAddress;
  /** The Matrix user whose People account (held by this bridge) the address is; undefined for any other. */
  matrixUserOf(address: PeopleAddress): Promise<MatrixUserId | undefined>;
  /**
   * The user's default account (the one `use` chose, else their logged-in address, else the
   * bridge-made one): opened, or created on first use, and receiving.
   */
  accountFor(userId: string): Promise<PeopleAccount>;
  /**
   * Optional: the user's own account at `address` (bridge-made or logged in), for portals that
   * belong to it; a user_error BridgeError when the user does not hold that address here.
   */
  accountAt?(userId: string, address: PeopleAddress): Promise<PeopleAccount>;
  /** Optional: told each copy's outcome in any account's outbox (send status). */
  onOutbox?(handler: (report: OutboxReport) => void): void;
}

/** What the People outbox says of one copy of a message. */
export interface OutboxReport {
  kind: "delivered" | "deferred" | "undeliverable";
  /** The sending account's address. */
  sender: string;
  messageId: string;
  /** The recipient of the copy. */
  address: string;
  code?: string;
}
