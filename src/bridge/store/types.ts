// The bridge's persistence contract. The bridge core sees only these
// interfaces; open-bridge-store.ts implements them with knex on SQLite or
// PostgreSQL. Every idempotency promise is a uniqueness constraint in the schema.

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
  /** The user's management room; a newer one replaces the older. */
  put(room: ManagementRoom): Promise<void>;
  forUser(userId: string): Promise<ManagementRoom | undefined>;
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
  /** Every account, oldest first (started when the bridge starts). */
  list(): Promise<PeopleAccountRecord[]>;
}

/** A DM portal: the room where `matrixUser` talks with `peopleAddress` (its ghost). */
export interface Portal {
  roomId: string;
  matrixUser: string;
  peopleAddress: string;
  createdAt: number;
}

export interface PortalStore {
  /**
   * Makes `roomId` the portal of its (user, address) pair. An older room of the
   * same pair stops being a portal; its id is returned so its ghost can leave.
   */
  put(portal: Portal): Promise<{ replaced?: string }>;
  byRoom(roomId: string): Promise<Portal | undefined>;
  byPair(matrixUser: string, peopleAddress: string): Promise<Portal | undefined>;
  remove(roomId: string): Promise<void>;
  count(): Promise<number>;
}

/** One bridged message: the Matrix event and the People message that are the same thing. */
export interface MessageMapping {
  matrixEventId: string;
  peopleMessageId: string;
  /** The People address that sent the message (the Matrix user's own address for Matrix → People). */
  peopleSender: string;
  roomId: string;
  createdAt: number;
}

export interface MessageMapStore {
  /**
   * Records a mapping, durable when the promise resolves. A mapping whose event,
   * or whose (sender, message), is already recorded is left as it is.
   */
  put(mapping: MessageMapping): Promise<void>;
  byEvent(matrixEventId: string): Promise<MessageMapping | undefined>;
  byMessage(peopleSender: string, peopleMessageId: string): Promise<MessageMapping | undefined>;
  /** The mappings of these events in `roomId`. */
  eventsInRoom(roomId: string, matrixEventIds: readonly string[]): Promise<MessageMapping[]>;
  /** The mappings of these People messages in `roomId`. */
  messagesInRoom(roomId: string, peopleMessageIds: readonly string[]): Promise<MessageMapping[]>;
}

/** One bridged Matrix identity's crypto machine (migration 003-crypto). */
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

export interface CryptoStore {
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

export interface BridgeStore {
  readonly transactions: TransactionStore;
  readonly crypto: CryptoStore;
  readonly managementRooms: ManagementRoomStore;
  readonly peopleAccounts: PeopleAccountStore;
  readonly portals: PortalStore;
  readonly messages: MessageMapStore;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface BridgeStoreConfig {
  engine: "sqlite" | "postgres";
  /** SQLite file path (or ":memory:"), or PostgreSQL connection string. */
  connection: string;
  poolMax?: number;
}
