// The bridge core's view of People: for each Matrix user it serves, the
// People account the bridge holds (one device, kept by the bridge), what it
// can send and what arrives for it. Only accounts/ knows the PeopleClient;
// the portals depend on these types alone.
import type { PeopleAddress } from "../people/protocol/address.js";
import type { MessageId } from "../people/protocol/ids.js";
import type { BlobRef, MessageContent } from "../people/protocol/messages.js";
import type { MatrixUserId } from "./model/matrix-ids.js";

/** A verified message that arrived for a Matrix user's People account. */
export interface IncomingMessage {
  id: MessageId;
  from: PeopleAddress;
  to: readonly PeopleAddress[];
  /** The sender's timestamp (ms). */
  ts: number;
  content: MessageContent;
}

/** Whether an address has a People account, as far as its server says. */
export type Lookup =
  | { status: "exists" }
  | { status: "unknown" }
  /** No definite answer: the server could not be reached, or answered with something unusable. */
  | { status: "unreachable"; code: string };

export interface PeopleAccount {
  readonly owner: MatrixUserId;
  readonly address: PeopleAddress;
  /** Seals and queues one message; resolves with its id once it is durably in the outbox. */
  send(to: PeopleAddress, content: MessageContent, options?: { ttlMs?: number }): Promise<MessageId>;
  /** Encrypts and uploads attachment bytes to the account's People server (nothing is sent yet). */
  uploadAttachment(bytes: Buffer, meta: { mime: string; name?: string }): Promise<BlobRef>;
  /** Fetches and decrypts an attachment a message points at (its hash checked). */
  downloadAttachment(ref: BlobRef): Promise<Buffer>;
  lookup(address: PeopleAddress): Promise<Lookup>;
}

/**
 * Called for each message that arrives for `account`. The message is
 * acknowledged to the People server only after the promise resolves; a
 * rejection has it delivered again later.
 */
export type IncomingHandler = (account: PeopleAccount, message: IncomingMessage) => Promise<void>;

export interface PeopleSide {
  /** The People address a Matrix user has (or would get); throws UserError when it cannot have one. */
  addressFor(userId: string): PeopleAddress;
  /** The user's account: opened, or created on first use, and receiving. */
  accountFor(userId: string): Promise<PeopleAccount>;
}
