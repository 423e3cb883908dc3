// Opens the bridge's store on SQLite (default) or PostgreSQL, migrated to the
// latest schema before anyone can use it. SQLite commits with synchronous=NORMAL
// (a commit survives the process being killed) and sync() fsyncs the WAL, which
// the bridge awaits before it acknowledges anything (a transaction to the
// homeserver, an envelope to the People server): one fsync, off the event loop,
// for all the writes since the last. PostgreSQL commits are durable already.
import knex, { type Knex } from "knex";
import { WalSync } from "../../../shared/wal-sync.js";
import { postgresKnexConfig, sqliteKnexConfig, totalChanges } from "../../../store/knex/knex-config.js";
import { KnexGroupPortalStore } from "./group-portal-store.js";
import { KnexCatchUpStore } from "./catch-up-store.js";
import { KnexGhostProfileStore } from "./ghost-profile-store.js";
import { KnexBridgeStateRecordStore } from "./bridge-state-store.js";
import { KnexCryptoStore } from "./crypto-store.js";
import { KnexEventRetryStore } from "./event-retry-store.js";
import { KnexFeedStore } from "./feed-store.js";
import { KnexPostRoomStore } from "./post-room-store.js";
import { KnexPersonalSpaceStore } from "./personal-space-store.js";
import { KnexManagementRoomStore } from "./management-room-store.js";
import { KnexSendStatusStore } from "./send-status-store.js";
import { KnexMessageMapStore } from "./message-map-store.js";
import { BRIDGE_MIGRATIONS_TABLE, bridgeMigrationSource } from "./migrations/index.js";
import { KnexPeopleAccountStore } from "./people-account-store.js";
import { KnexLoginStore } from "./login-store.js";
import { KnexAddressChoiceStore } from "./address-choice-store.js";
import { KnexDoublePuppetStore } from "./double-puppet-store.js";
import { KnexPortalStore } from "./portal-store.js";
import { KnexRoomRelayStore } from "./relay-store.js";
import { KnexBridgedCallStore } from "./call-store.js";
import { KnexRtcCallStore } from "./rtc-call-store.js";
import { KnexSenderCreationStore } from "./sender-creation-store.js";
import { KnexTransactionStore } from "./transaction-store.js";
import type { BridgeStore, BridgeStoreConfig } from "../../core/ports/store.js";
import { SqliteFastPath, type ConnectionRef } from "./sqlite-fast-path.js";

function knexConfig(config: BridgeStoreConfig, ref: ConnectionRef): Knex.Config {
  return config.engine === "postgres"
    ? postgresKnexConfig(config.connection, config.poolMax ?? 5)
    : sqliteKnexConfig(config.connection, "NORMAL", (conn) => (ref.current = conn), "bridge");
}

class KnexBridgeStore implements BridgeStore {
  readonly transactions: KnexTransactionStore;
  readonly eventRetries: KnexEventRetryStore;
  readonly crypto: KnexCryptoStore;
  readonly managementRooms: KnexManagementRoomStore;
  readonly peopleAccounts: KnexPeopleAccountStore;
  readonly logins: KnexLoginStore;
  readonly addressChoices: KnexAddressChoiceStore;
  readonly portals: KnexPortalStore;
  readonly messages: KnexMessageMapStore;
  readonly groups: KnexGroupPortalStore;
  readonly catchUp: KnexCatchUpStore;
  readonly ghostProfiles: KnexGhostProfileStore;
  readonly senderCreations: KnexSenderCreationStore;
  readonly sendStatus: KnexSendStatusStore;
  readonly feeds: KnexFeedStore;
  readonly postRooms: KnexPostRoomStore;
  readonly spaces: KnexPersonalSpaceStore;
  readonly relays: KnexRoomRelayStore;
  readonly calls: KnexBridgedCallStore;
  readonly doublePuppets: KnexDoublePuppetStore;
  readonly rtcCalls: KnexRtcCallStore;
  readonly bridgeStates: KnexBridgeStateRecordStore;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly db: Knex,
    private readonly wal: WalSync | undefined,
    private readonly connection: ConnectionRef,
  ) {
    // SQLite: the statements of every round trip skip knex when they can (sqlite-fast-path.ts).
    const fast = wal !== undefined || connection.current ? new SqliteFastPath(connection) : undefined;
    this.transactions = new KnexTransactionStore(db, fast);
    this.eventRetries = new KnexEventRetryStore(db);
    this.crypto = new KnexCryptoStore(db);
    this.managementRooms = new KnexManagementRoomStore(db);
    this.peopleAccounts = new KnexPeopleAccountStore(db);
    this.logins = new KnexLoginStore(db);
    this.addressChoices = new KnexAddressChoiceStore(db);
    this.portals = new KnexPortalStore(db);
    this.messages = new KnexMessageMapStore(db, fast);
    this.groups = new KnexGroupPortalStore(db);
    this.catchUp = new KnexCatchUpStore(db, Date.now, fast);
    this.ghostProfiles = new KnexGhostProfileStore(db);
    this.senderCreations = new KnexSenderCreationStore(db);
    this.sendStatus = new KnexSendStatusStore(db);
    this.feeds = new KnexFeedStore(db);
    this.postRooms = new KnexPostRoomStore(db);
    this.spaces = new KnexPersonalSpaceStore(db);
    this.relays = new KnexRoomRelayStore(db);
    this.calls = new KnexBridgedCallStore(db);
    this.doublePuppets = new KnexDoublePuppetStore(db);
    this.rtcCalls = new KnexRtcCallStore(db);
    this.bridgeStates = new KnexBridgeStateRecordStore(db);
  }

  async sync(): Promise<void> {
    await this.wal?.sync();
  }

  changes(): Promise<number | undefined> {
    const conn = this.connection.current;
    if (!this.wal || !conn) return Promise.resolve(undefined);
    // One connection (knex-config.ts), so it counts every write to the file. Read on the
    // connection itself: asked twice per homeserver transaction, a knex query cost more than the
    // count (a read of a counter, harmless inside a transaction knex has open on it).
    return Promise.resolve(totalChanges(conn));
  }

  async ping(): Promise<void> {
    await this.db.raw("select 1");
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.wal?.close();
      await this.db.destroy();
    })();
    return this.closing;
  }
}

export async function openBridgeStore(config: BridgeStoreConfig): Promise<BridgeStore> {
  const connection: ConnectionRef = {};
  const db = knex(knexConfig(config, connection));
  try {
    await db.migrate.latest({
      migrationSource: bridgeMigrationSource,
      tableName: BRIDGE_MIGRATIONS_TABLE,
    });
  } catch (err) {
    await db.destroy();
    throw err;
  }
  const sqliteFile = config.engine === "sqlite" && config.connection !== ":memory:";
  return new KnexBridgeStore(db, sqliteFile ? new WalSync(config.connection) : undefined, connection);
}
