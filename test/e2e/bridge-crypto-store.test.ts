// The crypto tables (migrations 006-crypto, 018-crypto-records) on SQLite and
// PostgreSQL, with a real OlmMachine: its state saved as sealed rows per
// record and opened again by a second "process" (a fresh in-memory
// IndexedDB) with the same identity keys; a save after a small change writes
// only the rows that changed; a machine saved as one whole snapshot (before
// 018) opens and moves to rows; events kept for their key are kept once.
// (An integration test; it lives with the bridge store test.)
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import "fake-indexeddb/auto";
import { IDBFactory } from "fake-indexeddb";
import { initAsync } from "@matrix-org/matrix-sdk-crypto-wasm";
import { AppserviceHttp } from "../../src/bridge/adapters/appservice/appservice-http.js";
import { CryptoStoreKey } from "../../src/bridge/adapters/crypto/crypto-store-key.js";
import { newIdbFactory } from "../../src/bridge/adapters/crypto/idb-types.js";
import { CryptoIdentity } from "../../src/bridge/adapters/crypto/olm-identity.js";
import { snapshotDatabases } from "../../src/bridge/adapters/crypto/idb-snapshot.js";
import { sealSnapshot } from "../../src/bridge/adapters/crypto/sealed-snapshot.js";
import { createBridgeLogger } from "../../src/bridge/logger.js";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import type { BridgeStore, BridgeStoreConfig } from "../../src/bridge/core/ports/store.js";
import { ENGINES } from "../helpers/stores.js";
import { testPostgres } from "../helpers/postgres.js";
import { isBridgeError } from "../../src/bridge/core/error-kinds.js";

const USER = "@_people_joe=40other.test:localhost";
const DEVICE = "PEOPLETESTDEVICE";
const LEGACY = "@_people_ann=40other.test:localhost";

for (const engine of ENGINES) {
  describe(`bridge crypto store [${engine}]`, function () {
    this.timeout(60_000);
    let config: BridgeStoreConfig;
    let store: BridgeStore;
    let tempDir: string | undefined;
    const key = CryptoStoreKey.fromBytes(Buffer.alloc(32, 5));
    const saves: number[] = [];
    const deps = () => ({
      onSaved: (bytes: number) => saves.push(bytes),
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

    it("saves a machine as sealed rows, only what changed, and opens it again with the same keys after a reopen of the database", async function () {
      await store.crypto.putIdentity({
        userId: USER,
        deviceId: DEVICE,
        snapshot: Buffer.alloc(0),
        savedAt: 1,
      });
      const first = await open(undefined);
      saves.length = 0;
      await first.exclusive(() => first.save());
      const whole = saves[0] ?? assert.fail("the first save wrote nothing");
      // Nothing changed: nothing written.
      await first.exclusive(() => first.save());
      assert.equal(saves.length, 1);
      const keys = first.identityKeys();
      await first.close();

      await store.close();
      store = await openBridgeStore(config);
      const rows = await store.crypto.loadRecords(USER);
      assert.ok(rows.length > 1, "one row per record");
      for (const r of rows)
        assert.ok(!r.sealed.includes(Buffer.from("matrix-sdk-crypto")), "the rows are sealed");
      const second = await open(undefined);
      assert.equal(second.identityKeys(), keys);
      await second.close();
      assert.ok(whole > 0);

      // Another key does not open them.
      const other = { ...deps(), key: CryptoStoreKey.fromBytes(Buffer.alloc(32, 6)) };
      await assert.rejects(open(undefined, other), (e: unknown) => isBridgeError(e, "snapshot_unreadable"));
    });

    it("opens a machine saved as one whole snapshot (before 018) and moves it to rows on its first save", async function () {
      const g = globalThis as { indexedDB?: unknown };
      const openAs = (sealed: Buffer | undefined, d: ReturnType<typeof deps>) => {
        g.indexedDB = d.idb;
        return CryptoIdentity.open(LEGACY, DEVICE, sealed, d).finally(() => (g.indexedDB = undefined));
      };
      // A machine never saved as rows, its databases sealed whole as an older bridge kept them.
      const d = deps();
      const first = await openAs(undefined, d);
      const keys = first.identityKeys();
      const names = (await d.idb.databases()).map((x) => x.name ?? "");
      const legacy = sealSnapshot(
        key.snapshotKey(LEGACY),
        LEGACY,
        DEVICE,
        await snapshotDatabases(d.idb, names),
      );
      await first.close();
      await store.crypto.putIdentity({ userId: LEGACY, deviceId: DEVICE, snapshot: legacy, savedAt: 1 });
      const moved = await openAs(legacy, deps());
      assert.equal(moved.identityKeys(), keys);
      await moved.exclusive(() => moved.save());
      await moved.close();
      assert.ok((await store.crypto.loadRecords(LEGACY)).length > 1);
      assert.equal(
        (await store.crypto.getIdentity(LEGACY))?.snapshot.length,
        0,
        "the whole snapshot is emptied",
      );
      await store.crypto.deleteIdentity(LEGACY);
      assert.deepEqual(await store.crypto.loadRecords(LEGACY), []);
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
