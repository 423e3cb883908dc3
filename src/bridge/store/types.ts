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

export interface BridgeStore {
  readonly transactions: TransactionStore;
  readonly managementRooms: ManagementRoomStore;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface BridgeStoreConfig {
  engine: "sqlite" | "postgres";
  /** SQLite file path (or ":memory:"), or PostgreSQL connection string. */
  connection: string;
  poolMax?: number;
}
