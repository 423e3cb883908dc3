// The crypto tables (migration 006-crypto) on SQLite and PostgreSQL, with a
// real OlmMachine: its sealed snapshot saved in crypto_identities and opened
// again by a second "process" (a fresh in-memory IndexedDB) with the same
// identity keys; the snapshot row is replaced whole; events kept for their
// key are kept once. (An integration test; it lives with the bridge store test.)
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "fake-indexeddb/auto";
import { IDBFactory } from "fake-indexeddb";
import { initAsync } from "@matrix-org/matrix-sdk-crypto-wasm";
import { AppserviceHttp } from "../../src/bridge/appservice/appservice-http.js";
import { CryptoStoreKey } from "../../src/bridge/crypto/crypto-store-key.js";
import { newIdbFactory } from "../../src/bridge/crypto/idb-types.js";
import { CryptoIdentity } from "../../src/bridge/crypto/olm-identity.js";
import { createBridgeLogger } from "../../src/bridge/logger.js";
import { openBridgeStore } from "../../src/bridge/store/open-bridge-store.js";
import type { BridgeStore, BridgeStoreConfig } from "../../src/bridge/store/types.js";
import { ENGINES } from "../helpers/stores.js";
import { testPostgres } from "../helpers/postgres.js";
import { isBridgeError } from "../../src/bridge/errors.js";

const USER = "@_people_joe=40other.test:localhost";
const DEVICE = "PEOPLETESTDEVICE";

for (const engine of ENGINES) {
  describe(`bridge crypto store [${engine}]`, function () {
    this.timeout(60_000);
    let config: BridgeStoreConfig;
    let store: BridgeStore;
    let tempDir: string | undefined;
    const key = CryptoStoreKey.fromBytes(Buffer.alloc(32, 5));
    const deps = () => ({
      store: store.crypto,
      key,
      // Never called here: nothing in these tests sends a request.
      http: new AppserviceHttp("http://127.0.0.1:9", "unused"),
      log: createBridgeLogger("silent"),
      idb: newIdbFactory(IDBFactory as unknown as new () => unknown),
    });
    const open = (sealed: Buffer | undefined, d = deps()) => {
      const g = globalThis as { indexedDB?: unknown };
      const before = g.indexedDB;
      g.indexedDB = d.idb;
      return CryptoIdentity.open(USER, DEVICE, sealed, d).finally(() => (g.indexedDB = before));
    };

    before(async function () {
      this.timeout(180_000);
      await initAsync();
      if (engine === "sqlite") {
        tempDir = mkdtempSync(join(tmpdir(), "bridge-crypto-store-"));
        config = { engine, connection: join(tempDir, "bridge.db") };
      } else {
        config = { engine, connection: await (await testPostgres()).createDatabase("bridge-crypto-store") };
      }
      store = await openBridgeStore(config);
    });

    after(async function () {
      await store?.close();
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    });

    it("saves a machine sealed and opens it again with the same keys after a reopen of the database", async function () {
      const first = await open(undefined);
      await first.exclusive(() => first.save());
      const keys = first.identityKeys();
      await first.close();

      await store.close();
      store = await openBridgeStore(config);
      const row = await store.crypto.getIdentity(USER);
      assert.equal(row?.deviceId, DEVICE);
      assert.ok(row && !row.snapshot.includes(Buffer.from("matrix-sdk-crypto")), "the row is sealed");
      const second = await open(row.snapshot);
      assert.equal(second.identityKeys(), keys);
      await second.close();

      // Another key does not open it.
      const other = { ...deps(), key: CryptoStoreKey.fromBytes(Buffer.alloc(32, 6)) };
      await assert.rejects(open(row.snapshot, other), (e: unknown) =>
        isBridgeError(e, "snapshot_unreadable"),
      );
    });

    it("replaces the row whole and keeps the sync position apart", async function () {
      await store.crypto.putSyncToken(USER, "s42");
      const before = (await store.crypto.getIdentity(USER))!;
      await store.crypto.putIdentity({
        ...before,
        snapshot: Buffer.from("new"),
        savedAt: before.savedAt + 1,
      });
      const after = (await store.crypto.getIdentity(USER))!;
      assert.deepEqual(after.snapshot, Buffer.from("new"));
      assert.equal(await store.crypto.getSyncToken(USER), "s42");
      assert.deepEqual(
        (await store.crypto.listIdentities()).map((r) => r.userId),
        [USER],
      );
    });

    it("keeps an event waiting for its key once, finds it by session, and forgets it", async function () {
      const e = { eventId: "$e1", roomId: "!r:hs", sessionId: "S1", eventJson: "{}", receivedAt: 1 };
      assert.equal(await store.crypto.putPending(e), true);
      assert.equal(await store.crypto.putPending(e), false);
      assert.deepEqual(await store.crypto.pendingForSessions(["S1", "S2"]), [e]);
      assert.deepEqual(await store.crypto.pendingForSessions([]), []);
      await store.crypto.removePending("$e1");
      assert.deepEqual(await store.crypto.allPending(), []);
    });
  });
}
