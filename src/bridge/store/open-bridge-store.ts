// Opens the bridge's store on SQLite (default) or PostgreSQL, migrated to the
// latest schema before anyone can use it.
import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import knex, { type Knex } from "knex";
import { KnexManagementRoomStore } from "./management-room-store.js";
import { KnexMessageMapStore } from "./message-map-store.js";
import { BRIDGE_MIGRATIONS_TABLE, bridgeMigrationSource } from "./migrations/index.js";
import { KnexPeopleAccountStore } from "./people-account-store.js";
import { KnexPortalStore } from "./portal-store.js";
import { KnexTransactionStore } from "./transaction-store.js";
import type { BridgeStore, BridgeStoreConfig } from "./types.js";

interface SqliteConnection {
  pragma(source: string): unknown;
}

function knexConfig(config: BridgeStoreConfig): Knex.Config {
  if (config.engine === "postgres") {
    return { client: "pg", connection: config.connection, pool: { min: 0, max: config.poolMax ?? 5 } };
  }
  const file = config.connection;
  if (file !== ":memory:") mkdirSync(dirname(resolve(file)), { recursive: true });
  return {
    client: "better-sqlite3",
    connection: { filename: file },
    useNullAsDefault: true,
    pool: {
      // One connection: SQLite serializes writers anyway, and ":memory:" must be one database.
      min: 1,
      max: 1,
      afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: SqliteConnection) => void) {
        try {
          conn.pragma("journal_mode = WAL");
          // FULL: a recorded transaction survives power loss, not only a crash.
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

class KnexBridgeStore implements BridgeStore {
  readonly transactions: KnexTransactionStore;
  readonly managementRooms: KnexManagementRoomStore;
  readonly peopleAccounts: KnexPeopleAccountStore;
  readonly portals: KnexPortalStore;
  readonly messages: KnexMessageMapStore;
  private closing: Promise<void> | undefined;

  constructor(private readonly db: Knex) {
    this.transactions = new KnexTransactionStore(db);
    this.managementRooms = new KnexManagementRoomStore(db);
    this.peopleAccounts = new KnexPeopleAccountStore(db);
    this.portals = new KnexPortalStore(db);
    this.messages = new KnexMessageMapStore(db);
  }

  async ping(): Promise<void> {
    await this.db.raw("select 1");
  }

  close(): Promise<void> {
    this.closing ??= this.db.destroy();
    return this.closing;
  }
}

export async function openBridgeStore(config: BridgeStoreConfig): Promise<BridgeStore> {
  const db = knex(knexConfig(config));
  try {
    await db.migrate.latest({
      migrationSource: bridgeMigrationSource,
      tableName: BRIDGE_MIGRATIONS_TABLE,
    });
  } catch (err) {
    await db.destroy();
    throw err;
  }
  return new KnexBridgeStore(db);
}
