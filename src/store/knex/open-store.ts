// Opens the People store on SQLite (default) or PostgreSQL: one knex instance,
// migrated to the latest schema before anyone can use it.

import knex, { type Knex } from "knex";
import { WalSync } from "../../shared/wal-sync.js";
import type { PeopleStore, StoreConfig } from "../types.js";
import { postgresKnexConfig, sqliteKnexConfig } from "./knex-config.js";
import { KnexAccountStore } from "./account-store.js";
import { KnexBlobStore } from "./blob-store.js";
import { KnexChallengeStore } from "./challenge-store.js";
import { KnexFeedStore } from "./feed-store.js";
import { KnexInviteStore } from "./invite-store.js";
import { KnexMoveStore } from "./move-store.js";
import { KnexMailboxStore } from "./mailbox-store.js";
import { migrationSource } from "./migrations/index.js";
import { KnexRateCountStore } from "./rate-count-store.js";
import { KnexServerKeyStore } from "./server-key-store.js";
import { KnexTokenStore } from "./token-store.js";
import type { Engine } from "./sql-values.js";

export interface OpenStoreOptions {
  logger?: { info(obj: object, msg: string): void };
  /**
   * SQLite commits with synchronous=NORMAL (a commit survives the process being killed) and the
   * caller fsyncs with sync() before it acknowledges a write (the People server: before answering).
   * Without it every commit fsyncs (synchronous=FULL).
   */
  deferredSync?: boolean;
  /**
   * PostgreSQL, a domain on several processes: each stored envelope NOTIFYs the channel
   * MAIL_HINT_CHANNEL with this process id (16 hex digits) and the recipient's device ids.
   */
  notifyOrigin?: string;
}

class KnexPeopleStore implements PeopleStore {
  readonly accounts: KnexAccountStore;
  readonly mailbox: KnexMailboxStore;
  readonly serverKeys: KnexServerKeyStore;
  readonly tokens: KnexTokenStore;
  readonly invites: KnexInviteStore;
  readonly blobs: KnexBlobStore;
  readonly feed: KnexFeedStore;
  readonly challenges: KnexChallengeStore;
  readonly rateCounts: KnexRateCountStore;
  readonly moves: KnexMoveStore;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly db: Knex,
    engine: Engine,
    private readonly wal: WalSync | undefined,
    notifyOrigin: string | undefined,
  ) {
    this.accounts = new KnexAccountStore(db);
    this.mailbox = new KnexMailboxStore(db, engine, notifyOrigin);
    this.serverKeys = new KnexServerKeyStore(db);
    this.tokens = new KnexTokenStore(db);
    this.invites = new KnexInviteStore(db);
    this.blobs = new KnexBlobStore(db);
    this.feed = new KnexFeedStore(db, engine);
    this.challenges = new KnexChallengeStore(db);
    this.rateCounts = new KnexRateCountStore(db);
    this.moves = new KnexMoveStore(db);
  }

  async sync(): Promise<void> {
    await this.wal?.sync();
  }

  async ping(): Promise<void> {
    await this.db.raw("select 1");
  }

  /** Lets queued ingests commit (their callers were promised an answer), then closes the pool. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.mailbox.idle();
      await this.rateCounts.idle();
      await this.wal?.close();
      await this.db.destroy();
    })();
    return this.closing;
  }
}

export async function openStore(config: StoreConfig, options: OpenStoreOptions = {}): Promise<PeopleStore> {
  const engine: Engine = config.engine;
  const db = knex(
    engine === "postgres"
      ? postgresKnexConfig(config.connection, config.poolMax ?? 10)
      : sqliteKnexConfig(
          config.connection,
          options.deferredSync ? "NORMAL" : "FULL",
          undefined,
          "people_server",
        ),
  );
  try {
    const [batch, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
    options.logger?.info({ engine, migrationBatch: batch, migrationsApplied: applied }, "store opened");
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const deferred = options.deferredSync && engine === "sqlite" && config.connection !== ":memory:";
  return new KnexPeopleStore(
    db,
    engine,
    deferred ? new WalSync(config.connection) : undefined,
    options.notifyOrigin,
  );
}
