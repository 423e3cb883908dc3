// The bridge's persistence contract. The bridge core sees only these
// interfaces; open-bridge-store.ts implements them with knex on SQLite or
// PostgreSQL. Every idempotency promise is a uniqueness constraint in the schema.
import type { Copies, MessageStatus } from "../../model/send-status.js";
import type {
  BridgedCallStore,
  DoublePuppetStore,
  FeedStore,
  GroupPortalStore,
  PersonalSpaceStore,
  PostRoomStore,
  RoomRelayStore,
  RtcCallStore,
} from "./feature-store.js";
export type * from "./feature-store.js";

export interface ProcessedTransaction {
  txnId: string;
  /** SHA-256 over the transaction's event ids: the same id with other events is not a replay. */
  eventsHash: string;
  processedAt: number;
}

export interface TransactionStore {
  get(txnId: string): Promise<ProcessedTransaction | undefined>;
  /** Record a transaction as applied (durable when the promise resolves); replaces an entry with the same id. */
  put(txn: ProcessedTransaction): Promise<void>;
  /** Forget transactions applied before `before` (the homeserver stopped retrying them long ago). */
  prune(before: number): Promise<number>;
}

export interface ManagementRoom {
  userId: string;
  roomId: string;
  createdAt: number;
}

export interface ManagementRoomStore {
  /** Records one of the user's management rooms (a user may have several; a repeat keeps the first). */
  put(room: ManagementRoom): Promise<void>;
  /** The user's newest management room. */
  forUser(userId: string): Promise<ManagementRoom | undefined>;
  /** All of the user's management rooms, newest first. */
  roomsOf(userId: string): Promise<ManagementRoom[]>;
  /** The users whose management room this is (normally one). */
  ownersOf(roomId: string): Promise<string[]>;
  remove(userId: string, roomId: string): Promise<void>;
  count(): Promise<number>;
}

/** The People account the bridge holds for a Matrix user. */
export interface PeopleAccountRecord {
  matrixUser: string;
  address: string;
  createdAt: number;
}

export interface PeopleAccountStore {
  /** Records the user's account; a repeated put of the same pair changes nothing. */
  put(record: PeopleAccountRecord): Promise<void>;
  get(matrixUser: string): Promise<PeopleAccountRecord | undefined>;
  /** Every account, oldest first. */
  list(): Promise<PeopleAccountRecord[]>;
  /** Accounts last looked after (keys rotated if due) before `before`, never first; at most `limit`. */
  dueForMaintenance(before: number, limit: number): Promise<string[]>;
  /** The account is open, its keys rotated if due at `at`: it opens at the next start until marked otherwise. */
  maintained(matrixUser: string, at: number): Promise<void>;
  /** Whether these accounts open at the next start (closed with no work left: no). */
  setOpenAtStart(matrixUsers: readonly string[], open: boolean): Promise<void>;
  /** The accounts to open at the start. */
  openAtStart(): Promise<string[]>;
}

/** A People address the bridge is logged in to for a Matrix user (`login`): the bridge is one of its devices. */
export interface LoginRecord {
  matrixUser: string;
  address: string;
  createdAt: number;
}

/** `use <own address>`: which of a user's own addresses new chats use. */
export interface AddressChoiceStore {
  set(matrixUser: string, address: string, at: number): Promise<void>;
  of(matrixUser: string): Promise<string | undefined>;
  clear(matrixUser: string): Promise<void>;
}

export interface LoginStore {
  /** Records the login; an address already logged in for another user is refused (false), a repeat is true. */
  put(record: LoginRecord): Promise<boolean>;
  remove(address: string): Promise<void>;
  byAddress(address: string): Promise<LoginRecord | undefined>;
  /** The user's logins, oldest first. */
  of(matrixUser: string): Promise<LoginRecord[]>;
  /** Every login, oldest first (started when the bridge starts). */
  list(): Promise<LoginRecord[]>;
}

/**
 * A DM portal: the room where `matrixUser`, as their own People address `ownerAddress`,
 * talks with `peopleAddress` (its ghost). A user holding several addresses has a portal per
 * (own address, remote address); replies in it are sent as `ownerAddress`.
 */
export interface Portal {
  roomId: string;
  matrixUser: string;
  /** Absent only in portals made before a user could hold several addresses (the default one). */
  ownerAddress?: string;
  peopleAddress: string;
  createdAt: number;
}

export interface PortalStore {
  /**
   * Makes `roomId` the portal of its (user, own address, address). An older room of the
   * same triple stops being a portal; its id is returned so its ghost can leave.
   */
  put(portal: Portal): Promise<{ replaced?: string }>;
  byRoom(roomId: string): Promise<Portal | undefined>;
  /** The portal of (user, own address, address); without `ownerAddress`, the pair's oldest one. */
  byPair(matrixUser: string, peopleAddress: string, ownerAddress?: string): Promise<Portal | undefined>;
  /** The Matrix users with a DM portal to this People address, oldest portal first (one indexed query). */
  usersWith(peopleAddress: string): Promise<string[]>;
  remove(roomId: string): Promise<void>;
  count(): Promise<number>;
  /** Every DM portal, oldest first (bridge state events at start). */
  list(): Promise<Portal[]>;
}

/** One bridged message: the Matrix event and the People message that are the same thing. */
export interface MessageMapping {
  matrixEventId: string;
  peopleMessageId: string;
  /** The People address that sent the message (the Matrix user's own address for Matrix → People). */
  peopleSender: string;
  /**
   * Whose copy this is: the own People address of the DM portal's user (each Matrix user's
   * copy of one message is its own), or SHARED_OWNER (the default) for a group room, where one copy serves all.
   */
  owner?: string;
  roomId: string;
  createdAt: number;
}

/** The owner of a group room's mappings: one bridged copy stops every other account's. */
export const SHARED_OWNER = "";

export interface MessageMapStore {
  /**
   * Records a mapping, durable when the promise resolves. A mapping whose event,
   * or whose (owner, sender, message), is already recorded is left as it is.
   */
  put(mapping: MessageMapping): Promise<void>;
  byEvent(matrixEventId: string): Promise<MessageMapping | undefined>;
  /**
   * The mapping of the message for `owner`: its own copy, or a shared (group room) one;
   * without `owner`, any copy.
   */
  byMessage(
    peopleSender: string,
    peopleMessageId: string,
    owner?: string,
  ): Promise<MessageMapping | undefined>;
  /** The mappings of these events in `roomId`. */
  eventsInRoom(roomId: string, matrixEventIds: readonly string[]): Promise<MessageMapping[]>;
  /** The mappings of these People messages in `roomId`. */
  messagesInRoom(roomId: string, peopleMessageIds: readonly string[]): Promise<MessageMapping[]>;
}

/** Where catching up a room's history starts: everything before this event reached the bridge. */
export interface CatchUpMark {
  roomId: string;
  /** Null when no event was made safe yet: catch-up reads back to `eventTs`. */
  eventId: string | null;
  /** origin_server_ts of that event (or when the room became a portal). */
  eventTs: number;
}

/** The positions of migrations/004-catchup.ts. */
export interface CatchUpStore {
  /** An applied transaction's last event in the room (a newer one seen already is kept). */
  seen(roomId: string, eventId: string, eventTs: number): Promise<void>;
  /** Catch-up handled the room's history up to this event: it is the room's new safe mark. */
  caughtUp(roomId: string, eventId: string, eventTs: number): Promise<void>;
  /** A quiet check of the homeserver: candidates become safe, the last seen events candidates. */
  promote(): Promise<void>;
  /** Catch-up started: no candidate taken before it may become safe. */
  forgetCandidates(): Promise<void>;
  /** The safe mark of every room. */
  list(): Promise<CatchUpMark[]>;
}

/** The display name and avatar the bridge set on a ghost from its People profile. */
export interface GhostProfileRecord {
  address: string;
  displayName: string;
  /** The People avatar's blob id (SHA-256 of its bytes); null without an avatar. */
  avatarHash: string | null;
  avatarMxc: string | null;
  /** When the profile was last fetched (ms). */
  fetchedAt: number;
}

export interface GhostProfileStore {
  get(address: string): Promise<GhostProfileRecord | undefined>;
  /** Replaces the address's record. */
  put(record: GhostProfileRecord): Promise<void>;
}

/** The bridge state (MSC2346) each portal room was last given: its state key and content as JSON, by room. */
export interface BridgeStateRecordStore {
  all(): Promise<Map<string, string>>;
  put(roomId: string, label: string): Promise<void>;
  /** Someone else changed the room's bridge state: the next start checks it. */
  forget(roomId: string): Promise<void>;
}

/** One bridged Matrix identity's crypto machine (migration 006-crypto). */
export interface CryptoIdentityRecord {
  userId: string;
  deviceId: string;
  /** The machine's state, sealed with the crypto store key. */
  snapshot: Buffer;
  savedAt: number;
}

/** An encrypted room event kept until the key to decrypt it arrives. */
export interface PendingEncryptedEvent {
  eventId: string;
  roomId: string;
  sessionId: string;
  eventJson: string;
  receivedAt: number;
}

/** One save of a crypto machine (crypto-record-store.ts), written in one transaction. */
export interface CryptoSave {
  /** Rows to insert or replace (sealed records). */
  put: readonly { rkey: string; sealed: Buffer }[];
  /** Row keys to delete. */
  del: readonly string[];
  /** Users the machine started / stopped tracking. */
  track: readonly string[];
  untrack: readonly string[];
  /** The whole-machine snapshot of before per-record rows is emptied (it is in the rows now). */
  dropSnapshot?: boolean;
  savedAt?: number;
}

/** A device-list change kept for a machine that was not loaded when it came. */
export interface DeviceListChange {
  userId: string;
  changed: string;
  left: boolean;
}

export interface CryptoRecordStore {
  loadRecords(userId: string): Promise<{ rkey: string; sealed: Buffer }[]>;
  /** Durable when the promise resolves. */
  save(userId: string, s: CryptoSave): Promise<void>;
  /** The machines tracking any of `users`. */
  trackersOf(users: readonly string[]): Promise<{ userId: string; tracked: string }[]>;
  queueDeviceChanges(changes: readonly DeviceListChange[]): Promise<void>;
  queuedDeviceChanges(userId: string): Promise<DeviceListChange[]>;
  clearDeviceChanges(userId: string, changed: readonly string[]): Promise<void>;
  /** The identity received room keys of the room, or sent into it. */
  addRoomIdentity(roomId: string, userId: string): Promise<void>;
  roomIdentities(roomId: string): Promise<string[]>;
  /** Every identity, without its state. */
  listIdentityIds(): Promise<{ userId: string; deviceId: string }[]>;
}

export interface CryptoStore extends CryptoRecordStore {
  getIdentity(userId: string): Promise<CryptoIdentityRecord | undefined>;
  listIdentities(): Promise<CryptoIdentityRecord[]>;
  /** Replaces the identity's row in one statement (durable when the promise resolves). */
  putIdentity(record: CryptoIdentityRecord): Promise<void>;
  deleteIdentity(userId: string): Promise<void>;
  getSyncToken(userId: string): Promise<string | undefined>;
  /** The identity's /sync position (its row must exist). */
  putSyncToken(userId: string, token: string): Promise<void>;
  /** Keeps the event; false when it was already kept. */
  putPending(event: PendingEncryptedEvent): Promise<boolean>;
  pendingForSessions(sessionIds: readonly string[]): Promise<PendingEncryptedEvent[]>;
  allPending(): Promise<PendingEncryptedEvent[]>;
  removePending(eventId: string): Promise<void>;
}

/** Rooms, and ghosts brought into rooms, because of one People sender's messages. */
export interface CreationCounts {
  rooms: number;
  ghosts: number;
}

/** What each People sender made the bridge create, with when (migration 008-sender-creations). */
export interface SenderCreationStore {
  /** The sums recorded for the sender after `since` (ms). */
  usedSince(sender: string, since: number): Promise<CreationCounts>;
  add(sender: string, counts: CreationCounts, at: number): Promise<void>;
  /** Deletes what was recorded at or before `before`; resolves with how many records went. */
  prune(before: number): Promise<number>;
}

/** A Matrix room event kept to be tried again (migration 009-event-retries). */
export interface EventRetry {
  eventId: string;
  roomId: string;
  /** The event as the homeserver sent it. */
  eventJson: string;
  /** A kept event this one points at: it is tried only once that one is handled. */
  waitsFor: string | null;
  firstFailedAt: number;
  attempts: number;
  nextAttemptAt: number;
}

export interface EventRetryStore {
  /** Keeps the event (durable when the promise resolves); false when it is kept already (left as it is). */
  put(retry: EventRetry): Promise<boolean>;
  /** Every kept event, in the order they were kept. */
  list(): Promise<EventRetry[]>;
  reschedule(eventId: string, attempts: number, nextAttemptAt: number): Promise<void>;
  remove(eventId: string): Promise<void>;
}

/** A Matrix event sent to People whose send status is still being told (send_status). */
export interface SendStatusRecord {
  matrixEventId: string;
  roomId: string;
  peopleSender: string;
  peopleMessageId: string;
  /** The People address whose ghost speaks for the bridge in the room. */
  noticeGhost: string;
  label: string;
  copies: Copies;
  said: MessageStatus | null;
  updatedAt: number;
}

export interface SendStatusStore {
  /** Inserts, or updates the copies and the status told of the event's row. */
  put(record: SendStatusRecord): Promise<void>;
  byMessage(peopleSender: string, peopleMessageId: string): Promise<SendStatusRecord | undefined>;
  remove(matrixEventId: string): Promise<void>;
}

export interface BridgeStore {
  readonly transactions: TransactionStore;
  readonly eventRetries: EventRetryStore;
  readonly crypto: CryptoStore;
  readonly managementRooms: ManagementRoomStore;
  readonly peopleAccounts: PeopleAccountStore;
  readonly logins: LoginStore;
  readonly addressChoices: AddressChoiceStore;
  readonly portals: PortalStore;
  readonly messages: MessageMapStore;
  readonly groups: GroupPortalStore;
  readonly catchUp: CatchUpStore;
  readonly ghostProfiles: GhostProfileStore;
  readonly senderCreations: SenderCreationStore;
  readonly sendStatus: SendStatusStore;
  readonly feeds: FeedStore;
  readonly postRooms: PostRoomStore;
  readonly spaces: PersonalSpaceStore;
  readonly relays: RoomRelayStore;
  readonly calls: BridgedCallStore;
  /** The double-puppet logins (optional: fakes may leave it out). */
  readonly doublePuppets?: DoublePuppetStore;
  /** The MatrixRTC calls (optional: fakes may leave it out). */
  readonly rtcCalls?: RtcCallStore;
  /** The portals' bridge state as last set (optional: without it every start asks the homeserver). */
  readonly bridgeStates?: BridgeStateRecordStore;
  /** Every write so far made durable against power loss too (SQLite's writes survive a kill already). */
  sync(): Promise<void>;
  /** Rows changed through the store so far (SQLite's total_changes); undefined where not counted. */
  changes?(): Promise<number | undefined>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface BridgeStoreConfig {
  engine: "sqlite" | "postgres";
  /** SQLite file path (or ":memory:"), or PostgreSQL connection string. */
  connection: string;
  poolMax?: number;
}
