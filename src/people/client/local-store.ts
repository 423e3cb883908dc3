// The device's own store: its secrets, what it pinned about servers and
// contacts, mail waiting to go out, mail received, and the replay guard. Every
// write survives the process being killed once its promise resolves; keys,
// pins, held mail and groups survive power loss then too, while the outbox and
// inbox writes of each message do once sync() resolved, which their callers
// await before acknowledging anything that relies on them (one fsync for many
// writes). Every secret or content value is encrypted at rest (local-store-sqlite.ts).
import type { DeviceCertWire } from "../protocol/device-cert.js";
import type { DeviceSecretsJson } from "../protocol/device-identity.js";
import type { DeviceListWire } from "../protocol/device-list.js";
import type { BlobRef, MessageContent } from "../protocol/messages.js";
import type { EnvelopeKeyWire } from "../protocol/server-keys.js";
import type { MoveNoticeWire } from "../protocol/move-notice.js";

export interface StoredIdentity {
  address: string;
  device: DeviceSecretsJson;
  /** The account key's 32-byte Ed25519 seed, base64url: every device that rotates needs it (PROTOCOL §6.3). */
  accountSeed: string;
  /** The local chain is ahead of the list the server publishes (rotated, publication not yet confirmed). */
  publishPending: boolean;
  /** A move in progress (client-moves.ts): the device's identity at the new address, and the signed notice. */
  moving?: { device: DeviceSecretsJson; notice: MoveNoticeWire };
  /** Addresses this account moved away from, oldest first. */
  movedFrom?: string[];
  /** This store was exported to an archive (device-export.ts) and must not run any more: one live copy per device. */
  exportedAt?: number;
}

export interface ServerRecord {
  domain: string;
  /** The pinned identity key (trust on first use), base64url. */
  identityKey: string;
  /** The verified envelope key certificates seen last, for sealing while the server is unreachable. */
  envelopeKeys: EnvelopeKeyWire[];
  fetchedAt: number;
  /** An identity key that differs from the pin, kept until the user accepts or ignores it. */
  pendingIdentityKey: string | null;
}

export interface DeviceLists {
  list: DeviceListWire;
  chains: Record<string, DeviceCertWire[]>;
}

export interface ContactRecord {
  address: string;
  /** Pinned account key, base64url. */
  accountKey: string;
  version: number;
  /** The pinned view: the last list and chains that verified against the pin. */
  pinned: DeviceLists;
  /** The user compared safety numbers. Cleared when the account key is replaced. */
  verified: boolean;
  /** "unexplained": a change that is not a valid continuation is waiting for the user; devices are not used. */
  state: "trusted" | "unexplained";
  pending: (DeviceLists & { code: string; at: number }) | null;
  lastChange: number;
  fetchedAt: number;
  /** The `updated_at` of the newest verified profile seen (profile.ts): an older one is a rollback. */
  profileSeen?: number;
  /** The contact moved (a verified notice, PROTOCOL §20): its address now, and the notice's `moved_at`. */
  movedTo?: string;
  movedAt?: number;
}

export interface OutboxInsert {
  envelopeId: string;
  messageId: string;
  address: string;
  outer: Buffer;
  createdAt: number;
  expiresAt: number;
}

export interface OutboxRow extends OutboxInsert {
  id: number;
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
}

/** A message as the device keeps it: verified, or sent by this device itself. */
export interface StoredMessage {
  id: string;
  from: string;
  device: string;
  ts: number;
  exp: number;
  to: string[];
  content: MessageContent;
  receivedAt: number;
  /** Sent by this device (kept so each device's history holds every message of a conversation). */
  outgoing: boolean;
}

export interface InboxEntry extends StoredMessage {
  /** Arrival order on this device. */
  seq: number;
  /** The listeners have seen it. */
  delivered: boolean;
}

export interface HeldEnvelope {
  envelopeId: string;
  from: string;
  inner: Buffer;
  until: number;
}

/** A social group as this device knows it (groups.ts). */
export interface GroupRecord {
  /** The group id: 16 random bytes, base64url (a MessageId-shaped value). */
  group: string;
  /** The owner: the creator, or for a member the sender of the first key received; later keys must come from it. */
  owner: string;
  /** The name the owner gave it, carried by group_key; null if the keys came without one. */
  name: string | null;
  /** The topic and picture the owner gave it (PROTOCOL §11.2 "Group details"); absent or null: none. */
  topic?: string | null;
  avatar?: BlobRef | null;
  /** The newest epoch held, and who holds its key (the owner included). */
  epoch: number;
  members: string[];
  createdAt: number;
  updatedAt: number;
}

/** One epoch key of a group: who sent it and who it was given to. */
export interface GroupKeyRecord {
  group: string;
  epoch: number;
  /** The 32-byte epoch key, base64url. */
  key: string;
  members: string[];
  /** The sender (the owner). */
  from: string;
  receivedAt: number;
}

export type CommitResult =
  | { status: "new"; seq: number }
  /** Stored before, but the listeners never finished with it (a crash or a failing listener). */
  | { status: "undelivered"; entry: InboxEntry }
  | { status: "delivered" }
  /** The replay guard knows (sender, id) but the message is gone from the inbox: a replay. */
  | { status: "replayed" };

export interface ClientStore {
  loadIdentity(): Promise<StoredIdentity | undefined>;
  saveIdentity(identity: StoredIdentity): Promise<void>;
  deleteIdentity(): Promise<void>;

  getServer(domain: string): Promise<ServerRecord | undefined>;
  putServer(record: ServerRecord): Promise<void>;

  getContact(address: string): Promise<ContactRecord | undefined>;
  putContact(record: ContactRecord): Promise<void>;
  listContacts(): Promise<ContactRecord[]>;

  /**
   * Makes every write before the call durable against power loss too (the outbox, inbox and
   * delivered marks below are, on resolving, durable against a crash of the process only).
   */
  sync(): Promise<void>;

  /** All copies of one message in one transaction. */
  enqueue(rows: OutboxInsert[]): Promise<void>;
  /** Every queued copy, oldest first. */
  outbox(): Promise<OutboxRow[]>;
  updateOutbox(
    id: number,
    o: { attempts: number; nextAttemptAt: number; lastError: string | null },
  ): Promise<void>;
  removeOutbox(id: number): Promise<void>;

  /**
   * Remember (from, id) until `exp` and store the message, atomically; or say why not.
   * This is the receiving rules' last step (PROTOCOL §12.11), the only one that changes state.
   */
  commitMessage(message: StoredMessage, delivered: boolean): Promise<CommitResult>;
  markDelivered(seq: number): Promise<void>;
  undelivered(): Promise<InboxEntry[]>;
  inbox(): Promise<InboxEntry[]>;
  /** Forget replay-guard entries and held envelopes whose messages expired. */
  pruneReplay(now: number): Promise<number>;

  /**
   * Keep an envelope from a contact whose keys changed unexplained, to be read
   * if the user accepts the change (until `until`, the message's expiry).
   */
  hold(o: HeldEnvelope): Promise<void>;
  heldCount(from: string): Promise<number>;
  /** The envelopes held for `from`, oldest first. */
  held(from: string): Promise<HeldEnvelope[]>;
  unhold(envelopeId: string): Promise<void>;

  getGroup(group: string): Promise<GroupRecord | undefined>;
  listGroups(): Promise<GroupRecord[]>;
  /** The group record and one of its epoch keys, in one transaction. */
  putGroupKey(record: GroupRecord, key: GroupKeyRecord): Promise<void>;
  getGroupKey(group: string, epoch: number): Promise<GroupKeyRecord | undefined>;
  /** Every epoch key held for `group`, oldest epoch first. */
  groupKeys(group: string): Promise<GroupKeyRecord[]>;

  /** After secrets were erased: push the WAL into the database so old pages do not linger in it. */
  compact(): Promise<void>;
  close(): Promise<void>;
}
