// Opens the People store on SQLite (default) or PostgreSQL: one knex instance,
// migrated to the latest schema before anyone can use it.

import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import knex, { type Knex } from "knex";
import type { PeopleStore, StoreConfig } from "../types.js";
import { KnexAccountStore } from "./account-store.js";
import { KnexBlobStore } from "./blob-store.js";
import { KnexFeedStore } from "./feed-store.js";
import { KnexMailboxStore } from "./mailbox-store.js";
import { migrationSource } from "./migrations/index.js";
import { KnexServerKeyStore } from "./server-key-store.js";
import { KnexTokenStore } from "./token-store.js";
import type { Engine } from "./sql-values.js";

export interface OpenStoreOptions {
  logger?: { info(obj: object, msg: string): void };
}

/** The part of a better-sqlite3 Database the pool hook uses. */
interface SqliteConnection {
  pragma(source: string): unknown;
}

function sqliteConfig(file: string): Knex.Config {
  if (file !== ":memory:") mkdirSync(dirname(resolve(file)), { recursive: true });
  return {
    client: "better-sqlite3",
    connection: { filename: file },
    useNullAsDefault: true,
    pool: {
      afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: SqliteConnection) => void) {
        try {
          conn.pragma("journal_mode = WAL");
          // FULL: a commit fsyncs the WAL, so an acknowledged envelope survives
          // power loss and not only a process crash.
          conn.pragma("synchronous = FULL");
          conn.pragma("foreign_keys = ON");
          conn.pragma("busy_timeout = 5000");
          done(null, conn);
        } catch (err) {
          done(err instanceof Error ? err : new Error(String(err)), conn);
        }
      },
    },
  };
}

function postgresConfig(connection: string, poolMax: number | undefined): Knex.Config {
  return { client: "pg", connection, pool: { min: 0, max: poolMax ?? 10 } };
}

class KnexPeopleStore implements PeopleStore {
  readonly accounts: KnexAccountStore;
  readonly mailbox: KnexMailboxStore;
  readonly serverKeys: KnexServerKeyStore;
  readonly tokens: KnexTokenStore;
  readonly blobs: KnexBlobStore;
  readonly feed: KnexFeedStore;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly db: Knex,
    engine: Engine,
  ) {
    this.accounts = new KnexAccountStore(db);
    this.mailbox = new KnexMailboxStore(db, engine);
    this.serverKeys = new KnexServerKeyStore(db);
    this.tokens = new KnexTokenStore(db);
    this.blobs = new KnexBlobStore(db);
    this.feed = new KnexFeedStore(db, engine);
  }

  async ping(): Promise<void> {
    await this.db.raw("select 1");
  }

  /** Lets queued ingests commit (their callers were promised an answer), then closes the pool. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.mailbox.idle();
      await this.db.destroy();
    })();
    return this.closing;
  }
}

export async function openStore(config: StoreConfig, options: OpenStoreOptions = {}): Promise<PeopleStore> {
  const engine: Engine = config.engine;
  const db = knex(
    engine === "postgres"
      ? postgresConfig(config.connection, config.poolMax)
      : sqliteConfig(config.connection),
  );
  try {
    const [batch, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]];
    options.logger?.info({ engine, migrationBatch: batch, migrationsApplied: applied }, "store opened");
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new KnexPeopleStore(db, engine);
}
