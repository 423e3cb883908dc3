// The persistence contract of the People server. The server is given a
// PeopleStore (never reaches for one globally); src/store/knex implements it on
// SQLite and PostgreSQL. Every idempotency promise is a uniqueness constraint
// in the schema, and every write that a caller acknowledges is durable when
// its promise resolves.

/** Base64url strings and raw bytes as they are stored; the server parses them at its edge. */
export interface AccountRecord {
  address: string;
  /** Ed25519 account key, base64url: fixed at registration, never changed by the server. */
  accountKey: string;
  /** The account-signed device list exactly as uploaded (JSON of DeviceListWire). */
  deviceListJson: string;
  deviceListVersion: number;
  /** Signed public profile (JSON of a signed statement), or null. */
  profileJson: string | null;
  quotaBytes: number;
  createdAt: number;
}

export interface DeviceRecord {
  address: string;
  device: string;
  /** The device's certificate chain, JSON array of DeviceCertWire, ascending seq. */
  chainJson: string;
  headSeq: number;
  /** Ed25519 signing key of the head certificate, base64url (verifies auth challenges). */
  signKey: string;
  revokedAt: number | null;
}

/** An 8-byte key id (hex) of a device encryption key, current or retired, for routing wraps to devices. */
export interface DeviceKeyRecord {
  keyId: string;
  address: string;
  device: string;
  seq: number;
}

export interface StoredEnvelope {
  /** Server-wide, monotonically increasing sequence number: the mailbox cursor. */
  seq: number;
  envelopeId: string;
  recipient: string;
  inner: Buffer;
  expiresAt: number;
  receivedAt: number;
}

export interface IngestRow {
  envelopeId: string;
  recipient: string;
  inner: Buffer;
  expiresAt: number;
  receivedAt: number;
  /** Devices of the recipient whose wraps the envelope carries. */
  devices: string[];
}

export type IngestResult =
  { status: "stored"; seq: number } | { status: "duplicate" } | { status: "over_quota" };

export interface ServerKeyRecord {
  kind: "identity" | "envelope";
  /** Hex key id for envelope keys, "identity" for the identity key. */
  keyId: string;
  /** 32-byte secret, base64url. Stored as the server's own operating key; see docs/PROTOCOL.md threat model. */
  secret: string;
  /** Certificate JSON for envelope keys; null for the identity key. */
  certJson: string | null;
  notBefore: number;
  notAfter: number;
}

export interface TokenRecord {
  /** SHA-256 of the bearer token, hex; the token itself is never stored. */
  tokenHash: string;
  address: string;
  device: string;
  expiresAt: number;
}

/** A registration invite the admin made; the token itself is shown once and never stored. */
export interface InviteRecord {
  /** SHA-256 of the invite token, hex. */
  tokenHash: string;
  /** Public handle to list and revoke it by: the hash's first 12 hex digits. */
  id: string;
  createdAt: number;
  /** null: never expires. */
  expiresAt: number | null;
  /** How many accounts it may create; null: any number. */
  maxUses: number | null;
  uses: number;
  revokedAt: number | null;
  note: string | null;
}

/** An account as the admin lists it. */
export interface AccountSummary {
  address: string;
  createdAt: number;
  /** Devices not revoked. */
  devices: number;
}

export interface BlobRecord {
  id: string;
  owner: string;
  size: number;
  createdAt: number;
  /** Collected after this time unless a post references it (a reference pins it); null: never collected. */
  expiresAt: number | null;
}

export interface PostRecord {
  seq: number;
  author: string;
  postId: string;
  /** The post as uploaded: ciphertext with wrapped keys, or a signed public post (JSON). */
  bodyJson: string;
  isPublic: boolean;
  createdAt: number;
  /** Blob ids the post references (kept from garbage collection while the post exists). */
  blobIds: string[];
}

export interface AccountStore {
  create(
    record: AccountRecord,
    devices: DeviceRecord[],
    keys: DeviceKeyRecord[],
  ): Promise<"created" | "exists">;
  get(address: string): Promise<AccountRecord | undefined>;
  /** Replace the device list and chains; fails (returns "stale") unless version > the stored one. */
  updateDevices(
    address: string,
    list: { json: string; version: number },
    devices: DeviceRecord[],
    keys: DeviceKeyRecord[],
  ): Promise<"updated" | "stale">;
  /**
   * Stores a signed profile whose body says `updatedAt`, only when it is newer than the stored
   * one: "stale" when the stored one is newer, or as new with other bytes; "same" when the very
   * same profile is stored (a repeat changes nothing).
   */
  setProfile(address: string, profileJson: string, updatedAt: number): Promise<"updated" | "same" | "stale">;
  devices(address: string): Promise<DeviceRecord[]>;
  device(address: string, device: string): Promise<DeviceRecord | undefined>;
  /** Which devices of `address` own these key ids (hex). */
  devicesForKeyIds(address: string, keyIds: string[]): Promise<string[]>;
  /** Bytes of the envelopes stored for the address: what its mailbox quota (quotaBytes) counts. */
  usedBytes(address: string): Promise<number>;
  count(): Promise<number>;
  /** Accounts in address order, after `after` (exclusive), at most `limit`. */
  list(after: string | null, limit: number): Promise<AccountSummary[]>;
}

export interface MailboxStore {
  /**
   * Store an envelope for its recipient's devices, deduplicated by envelope id.
   * Resolves only after the write is durable. Concurrent calls may be committed together.
   */
  ingest(row: IngestRow): Promise<IngestResult>;
  /** Envelopes pending for one device, oldest first, after a cursor. */
  pending(address: string, device: string, afterSeq: number, limit: number): Promise<StoredEnvelope[]>;
  /** Acknowledge envelopes for one device; an envelope no device still waits for is deleted. Returns how many were acknowledged. */
  ack(address: string, device: string, envelopeIds: string[]): Promise<number>;
  /** Delete expired envelopes and forget expired envelope ids; returns the number deleted. */
  expire(now: number): Promise<number>;
  /** Count of envelopes still pending for any device. */
  depth(): Promise<number>;
  /** The addresses with an envelope still pending for some device (an embedding bridge wakes their accounts). */
  waitingRecipients(): Promise<string[]>;
}

export interface ServerKeyStore {
  all(): Promise<ServerKeyRecord[]>;
  put(record: ServerKeyRecord): Promise<void>;
  /** Insert unless a key with this id is stored already (then the stored one stays). */
  add(record: ServerKeyRecord): Promise<void>;
  delete(keyId: string): Promise<void>;
}

export interface TokenStore {
  put(record: TokenRecord): Promise<void>;
  get(tokenHash: string, now: number): Promise<TokenRecord | undefined>;
  deleteForDevice(address: string, device: string): Promise<void>;
  expire(now: number): Promise<number>;
}

export interface InviteStore {
  /** Record a new invite; its hash and id are unique. */
  create(record: InviteRecord): Promise<void>;
  /** Every invite, newest first. */
  list(): Promise<InviteRecord[]>;
  get(tokenHash: string): Promise<InviteRecord | undefined>;
  /** Take one use of the invite if it is valid at `now` (not revoked, expired or used up); true when taken. */
  use(tokenHash: string, now: number): Promise<boolean>;
  /** Give back a use taken for a registration that then failed. */
  giveBack(tokenHash: string): Promise<void>;
  /** Revoke by id: "revoked", or why not. */
  revoke(id: string, now: number): Promise<"revoked" | "already" | "unknown">;
}

export interface BlobStore {
  /** Record a blob's metadata once its bytes are durably on disk; idempotent on id. */
  put(record: BlobRecord): Promise<"created" | "exists">;
  get(id: string): Promise<BlobRecord | undefined>;
  /** Total bytes of the blobs an account owns (for its quota). */
  usedBytes(owner: string): Promise<number>;
  /** Blobs whose expiry passed and that no post references. */
  collectable(now: number, limit: number): Promise<BlobRecord[]>;
  delete(id: string): Promise<void>;
}

export interface FeedStore {
  add(post: Omit<PostRecord, "seq">): Promise<{ status: "stored"; seq: number } | { status: "duplicate" }>;
  list(author: string, afterSeq: number, limit: number, publicOnly: boolean): Promise<PostRecord[]>;
  delete(author: string, postId: string): Promise<boolean>;
}

/** A login challenge handed to a device (auth.ts); single use. */
export interface ChallengeRecord {
  challenge: string;
  address: string;
  device: string;
  expiresAt: number;
}

export interface ChallengeStore {
  put(record: ChallengeRecord): Promise<void>;
  /** Take the challenge out, whatever its state; returns it only if it was there and not expired at `now`. Atomic: one caller gets it. */
  consume(challenge: string, now: number): Promise<ChallengeRecord | undefined>;
  /** Challenges stored (live or expired, until expire() runs). */
  count(): Promise<number>;
  /** Delete challenges that expired before `now`; returns how many. */
  expire(now: number): Promise<number>;
}

/** Fixed-window counters shared by the server processes of one domain (rate limits). */
export interface RateCountStore {
  /** Count one hit for `key` in the window starting at `windowStart`; resolves with the key's count including it. */
  hit(key: string, windowStart: number): Promise<number>;
  /** Delete the counters of windows that started before `before`. */
  expire(before: number): Promise<number>;
}

/** An account that moved away (PROTOCOL §20): its signed notice, as put. */
export interface MoveRecord {
  address: string;
  toAddress: string;
  /** JSON of the MoveNoticeWire. */
  noticeJson: string;
  movedAt: number;
  /** Until then the moved devices may still read the old mailbox. */
  forwardUntil: number;
}

export interface MoveStore {
  get(address: string): Promise<MoveRecord | undefined>;
  /** Stores the move unless one as new or newer is stored: "stale" then, and nothing changes. */
  put(record: MoveRecord): Promise<"stored" | "stale">;
}

export interface PeopleStore {
  readonly accounts: AccountStore;
  readonly mailbox: MailboxStore;
  readonly serverKeys: ServerKeyStore;
  readonly tokens: TokenStore;
  readonly invites: InviteStore;
  readonly blobs: BlobStore;
  readonly feed: FeedStore;
  readonly challenges: ChallengeStore;
  readonly rateCounts: RateCountStore;
  readonly moves: MoveStore;
  /**
   * Makes every write so far durable against power loss (an fsync), for a store opened with
   * `deferredSync`; with every commit fsynced already (the default, PostgreSQL) it does nothing.
   */
  sync(): Promise<void>;
  /** Cheap round trip for health checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface StoreConfig {
  /** "sqlite" (default): a file under the data directory, WAL. "postgres": a connection string. */
  engine: "sqlite" | "postgres";
  /** SQLite file path, or PostgreSQL connection string. */
  connection: string;
  /** PostgreSQL pool size. */
  poolMax?: number;
}
