// The bridge's own tables on SQLite and PostgreSQL (the test cluster of the
// run): numbered migrations under their own bookkeeping table, beside the
// People server's schema in the same database, and the two stores' promises.
// (An integration test by nature; it lives with the other bridge tests.)
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import knex from "knex";
import {
  BRIDGE_MIGRATIONS,
  BRIDGE_MIGRATIONS_TABLE,
  bridgeMigrationSource,
  type NamedMigration,
} from "../../src/bridge/adapters/store/migrations/index.js";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import type { BridgeStore, BridgeStoreConfig } from "../../src/bridge/core/ports/store.js";
import { openStore } from "../../src/store/index.js";
import { ENGINES } from "../helpers/stores.js";
import { testPostgres } from "../helpers/postgres.js";

for (const engine of ENGINES) {
  describe(`bridge store [${engine}]`, function () {
    let config: BridgeStoreConfig;
    let store: BridgeStore;
    let tempDir: string | undefined;

    before(async function () {
      this.timeout(180_000);
      if (engine === "sqlite") {
        tempDir = mkdtempSync(join(tmpdir(), "bridge-store-"));
        config = { engine, connection: join(tempDir, "shared.db") };
      } else {
        config = { engine, connection: await (await testPostgres()).createDatabase("bridge-store") };
      }
      // The People server's schema first, in the same database: the two never collide.
      const people = await openStore(config);
      await people.close();
      store = await openBridgeStore(config);
    });

    after(async function () {
      await store?.close();
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    });

    it("keeps its migrations apart from the People server's", async function () {
      const db = knex(
        engine === "sqlite"
          ? { client: "better-sqlite3", connection: { filename: config.connection }, useNullAsDefault: true }
          : { client: "pg", connection: config.connection },
      );
      try {
        const bridge = (await db("bridge_migrations").select("name")) as { name: string }[];
        assert.deepEqual(
          bridge.map((r) => r.name),
          [
            "001-initial",
            "002-portals",
            "003-groups",
            "004-catchup",
            "005-ghost-profiles",
            "006-crypto",
            "007-ghost-names",
            "008-sender-creations",
            "009-event-retries",
            "010-management-rooms",
            "011-send-status",
            "012-feeds",
            "013-room-relays",
            "014-logins",
            "015-post-groups",
            "016-personal-spaces",
            "017-calls",
            "018-crypto-records",
            "019-double-puppets",
            "020-post-room-cursors",
            "021-portal-owner",
            "022-feed-room-profile",
            "023-rtc-calls",
            "024-lazy-accounts",
            "025-address-lookups",
            "026-bridge-state-records",
          ],
        );
        const people = (await db("knex_migrations").select("name")) as { name: string }[];
        assert.ok(!people.some((r) => r.name.includes("bridge")));
        assert.ok(people.length >= 1);
      } finally {
        await db.destroy();
      }
    });

    it("records processed transactions, replaces by id, and prunes old ones", async function () {
      assert.equal(await store.transactions.get("t1"), undefined);
      await store.transactions.put({ txnId: "t1", eventsHash: "h1", processedAt: 1_000 });
      await store.transactions.put({ txnId: "t2", eventsHash: "h2", processedAt: 5_000 });
      assert.deepEqual(await store.transactions.get("t1"), {
        txnId: "t1",
        eventsHash: "h1",
        processedAt: 1_000,
      });
      await store.transactions.put({ txnId: "t1", eventsHash: "h1b", processedAt: 2_000 });
      assert.equal((await store.transactions.get("t1"))?.eventsHash, "h1b");
      assert.equal(await store.transactions.prune(3_000), 1);
      assert.equal(await store.transactions.get("t1"), undefined);
      assert.ok(await store.transactions.get("t2"));
    });

    it("keeps every management room of a user (newest first), findable by room", async function () {
      const rooms = store.managementRooms;
      await rooms.put({ userId: "@a:hs", roomId: "!one:hs", createdAt: 1 });
      await rooms.put({ userId: "@b:hs", roomId: "!two:hs", createdAt: 2 });
      await rooms.put({ userId: "@a:hs", roomId: "!three:hs", createdAt: 3 });
      await rooms.put({ userId: "@a:hs", roomId: "!one:hs", createdAt: 9 }); // a redelivered invite
      assert.deepEqual(await rooms.forUser("@a:hs"), { userId: "@a:hs", roomId: "!three:hs", createdAt: 3 });
      assert.deepEqual(await rooms.roomsOf("@a:hs"), [
        { userId: "@a:hs", roomId: "!three:hs", createdAt: 3 },
        { userId: "@a:hs", roomId: "!one:hs", createdAt: 1 },
      ]);
      assert.deepEqual(await rooms.ownersOf("!one:hs"), ["@a:hs"]);
      assert.deepEqual(await rooms.ownersOf("!two:hs"), ["@b:hs"]);
      assert.equal(await rooms.count(), 3);
      await rooms.remove("@b:hs", "!two:hs");
      assert.equal(await rooms.forUser("@b:hs"), undefined);
      await rooms.remove("@a:hs", "!one:hs");
      assert.deepEqual(
        (await rooms.roomsOf("@a:hs")).map((r) => r.roomId),
        ["!three:hs"],
      );
      await rooms.put({ userId: "@a:hs", roomId: "!one:hs", createdAt: 1 });
    });

    it("keeps the management rooms of a store made before 010 (one per user), then takes more", async function () {
      const older =
        engine === "sqlite"
          ? { engine, connection: join(tempDir!, "before-010.db") }
          : { engine, connection: await (await testPostgres()).createDatabase("bridge-before-010") };
      const db = knex(
        engine === "sqlite"
          ? { client: "better-sqlite3", connection: { filename: older.connection }, useNullAsDefault: true }
          : { client: "pg", connection: older.connection },
      );
      const upTo009 = BRIDGE_MIGRATIONS.filter((m) => m.name < "010");
      try {
        await db.migrate.latest({
          tableName: BRIDGE_MIGRATIONS_TABLE,
          migrationSource: {
            getMigrations: () => Promise.resolve([...upTo009]),
            getMigrationName: (m: NamedMigration) => m.name,
            getMigration: (m: NamedMigration) => Promise.resolve(m.migration),
          },
        });
        await db("management_rooms").insert({ user_id: "@a:hs", room_id: "!old:hs", created_at: 5 });
      } finally {
        await db.destroy();
      }
      const upgraded = await openBridgeStore(older);
      try {
        assert.deepEqual(await upgraded.managementRooms.ownersOf("!old:hs"), ["@a:hs"]);
        await upgraded.managementRooms.put({ userId: "@a:hs", roomId: "!new:hs", createdAt: 6 });
        assert.deepEqual(
          (await upgraded.managementRooms.roomsOf("@a:hs")).map((r) => r.roomId),
          ["!new:hs", "!old:hs"],
        );
      } finally {
        await upgraded.close();
      }
    });

    it("keeps one People account per Matrix user, each address once", async function () {
      const accounts = store.peopleAccounts;
      await accounts.put({ matrixUser: "@a:hs", address: "a@p.test", createdAt: 2 });
      await accounts.put({ matrixUser: "@a:hs", address: "a@p.test", createdAt: 9 });
      await accounts.put({ matrixUser: "@b:hs", address: "b@p.test", createdAt: 1 });
      assert.deepEqual(await accounts.get("@a:hs"), {
        matrixUser: "@a:hs",
        address: "a@p.test",
        createdAt: 2,
      });
      assert.deepEqual(
        (await accounts.list()).map((a) => a.matrixUser),
        ["@b:hs", "@a:hs"],
      );
      await assert.rejects(accounts.put({ matrixUser: "@c:hs", address: "a@p.test", createdAt: 3 }));
    });

    it("keeps what a feed room shows of its author's profile (migration 022)", async function () {
      const room = { roomId: "!f1:hs", matrixUser: "@a:hs", author: "joe@p.test", cursor: 0, createdAt: 1 };
      await store.feeds.putRoom(room);
      const unknown = await store.feeds.byRoom("!f1:hs");
      assert.equal(unknown?.shownName, undefined);
      assert.equal(unknown?.shownAvatar, undefined);
      await store.feeds.setShown("!f1:hs", { name: "Joe's posts", avatar: "" });
      assert.deepEqual(await store.feeds.roomOf("@a:hs", "joe@p.test"), {
        ...room,
        shownName: "Joe's posts",
        shownAvatar: "",
      });
      await store.feeds.putRoom({
        ...room,
        roomId: "!f2:hs",
        author: "ann@p.test",
        shownName: "A",
        shownAvatar: "h",
      });
      assert.equal((await store.feeds.byRoom("!f2:hs"))?.shownAvatar, "h");
      await store.feeds.removeRoom("!f1:hs");
      await store.feeds.removeRoom("!f2:hs");
    });

    it("keeps one sealed double-puppet login per Matrix user, replaced by a new one (migration 019)", async function () {
      const puppets = store.doublePuppets ?? assert.fail("no double_puppets table");
      const sealed = Buffer.from([1, 2, 3, 0, 255]);
      await puppets.put({ matrixUser: "@a:hs", deviceId: "D1", sealedToken: sealed, createdAt: 5 });
      assert.deepEqual(await puppets.of("@a:hs"), {
        matrixUser: "@a:hs",
        deviceId: "D1",
        sealedToken: sealed,
        createdAt: 5,
      });
      await puppets.put({ matrixUser: "@a:hs", deviceId: "D2", sealedToken: Buffer.from([9]), createdAt: 7 });
      assert.equal((await puppets.of("@a:hs"))?.deviceId, "D2");
      assert.equal(await puppets.of("@b:hs"), undefined);
      await puppets.remove("@a:hs");
      assert.equal(await puppets.of("@a:hs"), undefined);
    });

    it("keeps each logged-in address for one Matrix user (migration 014)", async function () {
      const logins = store.logins;
      assert.equal(await logins.put({ matrixUser: "@a:hs", address: "a@o.test", createdAt: 5 }), true);
      assert.equal(await logins.put({ matrixUser: "@a:hs", address: "a@o.test", createdAt: 9 }), true);
      assert.equal(await logins.put({ matrixUser: "@b:hs", address: "a@o.test", createdAt: 6 }), false);
      assert.equal(await logins.put({ matrixUser: "@b:hs", address: "b@o.test", createdAt: 1 }), true);
      assert.deepEqual(await logins.byAddress("a@o.test"), {
        matrixUser: "@a:hs",
        address: "a@o.test",
        createdAt: 5,
      });
      assert.deepEqual(
        (await logins.of("@b:hs")).map((l) => l.address),
        ["b@o.test"],
      );
      assert.deepEqual(
        (await logins.list()).map((l) => l.address),
        ["b@o.test", "a@o.test"],
      );
      await logins.remove("a@o.test");
      assert.equal(await logins.byAddress("a@o.test"), undefined);
      assert.deepEqual(await logins.of("@a:hs"), []);
    });

    it("021 gives a store's portals and DM mappings the user's bridge-made address; a second address gets its own", async function () {
      const older =
        engine === "sqlite"
          ? { engine, connection: join(tempDir!, "before-021.db") }
          : { engine, connection: await (await testPostgres()).createDatabase("bridge-before-021") };
      const db = knex(
        engine === "sqlite"
          ? { client: "better-sqlite3", connection: { filename: older.connection }, useNullAsDefault: true }
          : { client: "pg", connection: older.connection },
      );
      const upTo020 = BRIDGE_MIGRATIONS.filter((m) => m.name < "021");
      try {
        await db.migrate.latest({
          tableName: BRIDGE_MIGRATIONS_TABLE,
          migrationSource: {
            getMigrations: () => Promise.resolve([...upTo020]),
            getMigrationName: (m: NamedMigration) => m.name,
            getMigration: (m: NamedMigration) => Promise.resolve(m.migration),
          },
        });
        await db("people_accounts").insert({
          matrix_user: "@joe:hs",
          people_address: "joe@p.test",
          created_at: 1,
        });
        await db("portals").insert({
          room_id: "!old:hs",
          matrix_user: "@joe:hs",
          people_address: "ann@o.test",
          created_at: 2,
        });
        await db("message_map").insert({
          matrix_event_id: "$old",
          people_message_id: "M1",
          people_sender: "ann@o.test",
          room_id: "!old:hs",
          created_at: 3,
        });
      } finally {
        await db.destroy();
      }
      const upgraded = await openBridgeStore(older);
      try {
        const portal = await upgraded.portals.byPair("@joe:hs", "ann@o.test", "joe@p.test");
        assert.equal(portal?.roomId, "!old:hs");
        assert.equal(portal?.ownerAddress, "joe@p.test");
        assert.equal((await upgraded.portals.byPair("@joe:hs", "ann@o.test"))?.roomId, "!old:hs");
        // The old mapping is the made address's copy: a redelivery there is a duplicate, not elsewhere.
        assert.equal(
          (await upgraded.messages.byMessage("ann@o.test", "M1", "joe@p.test"))?.matrixEventId,
          "$old",
        );
        assert.equal(await upgraded.messages.byMessage("ann@o.test", "M1", "joe@other.test"), undefined);
        // A logged-in address of the same user has its own portal with the same contact.
        assert.deepEqual(
          await upgraded.portals.put({
            roomId: "!new:hs",
            matrixUser: "@joe:hs",
            ownerAddress: "joe@other.test",
            peopleAddress: "ann@o.test",
            createdAt: 4,
          }),
          {},
        );
        assert.equal(
          (await upgraded.portals.byPair("@joe:hs", "ann@o.test", "joe@other.test"))?.roomId,
          "!new:hs",
        );
        assert.equal((await upgraded.portals.byRoom("!old:hs"))?.ownerAddress, "joe@p.test");
        // Each owner's copy of one message is its own (two Matrix users on one bridge).
        await upgraded.messages.put({
          matrixEventId: "$new",
          peopleMessageId: "M1",
          peopleSender: "ann@o.test",
          owner: "joe@other.test",
          roomId: "!new:hs",
          createdAt: 5,
        });
        assert.equal(
          (await upgraded.messages.byMessage("ann@o.test", "M1", "joe@other.test"))?.matrixEventId,
          "$new",
        );
        assert.equal(
          (await upgraded.messages.byMessage("ann@o.test", "M1", "joe@p.test"))?.matrixEventId,
          "$old",
        );
      } finally {
        await upgraded.close();
      }
    });

    it("keeps one portal per (user, address): a newer room replaces the older", async function () {
      const portals = store.portals;
      assert.deepEqual(
        await portals.put({
          roomId: "!p1:hs",
          matrixUser: "@a:hs",
          peopleAddress: "joe@o.test",
          createdAt: 1,
        }),
        {},
      );
      await portals.put({ roomId: "!p2:hs", matrixUser: "@a:hs", peopleAddress: "ann@o.test", createdAt: 2 });
      await portals.put({ roomId: "!p3:hs", matrixUser: "@b:hs", peopleAddress: "joe@o.test", createdAt: 3 });
      assert.equal((await portals.byPair("@a:hs", "joe@o.test"))?.roomId, "!p1:hs");
      assert.deepEqual(
        await portals.put({
          roomId: "!p4:hs",
          matrixUser: "@a:hs",
          peopleAddress: "joe@o.test",
          createdAt: 4,
        }),
        { replaced: "!p1:hs" },
      );
      assert.equal(await portals.byRoom("!p1:hs"), undefined);
      assert.deepEqual(await portals.byRoom("!p4:hs"), {
        roomId: "!p4:hs",
        matrixUser: "@a:hs",
        peopleAddress: "joe@o.test",
        createdAt: 4,
      });
      // The same room again is not a replacement.
      assert.deepEqual(
        await portals.put({
          roomId: "!p4:hs",
          matrixUser: "@a:hs",
          peopleAddress: "joe@o.test",
          createdAt: 5,
        }),
        {},
      );
      assert.equal(await portals.count(), 3);
      await portals.remove("!p2:hs");
      assert.equal(await portals.byPair("@a:hs", "ann@o.test"), undefined);
      // Who talks with an address (a ghost's profile is read through one of them): oldest portal first.
      assert.deepEqual(await portals.usersWith("joe@o.test"), ["@b:hs", "@a:hs"]);
      assert.deepEqual(await portals.usersWith("ann@o.test"), []);
    });

    it("maps each Matrix event and each People message once", async function () {
      const messages = store.messages;
      const m = {
        matrixEventId: "$e1",
        peopleMessageId: "M1",
        peopleSender: "a@p.test",
        roomId: "!r",
        createdAt: 1,
      };
      await messages.put(m);
      // Redelivered: the same event, or the same (sender, message) under another event, changes nothing.
      await messages.put({ ...m, createdAt: 2 });
      await messages.put({ ...m, matrixEventId: "$e2" });
      await messages.put({ ...m, peopleMessageId: "M9" });
      assert.deepEqual(await messages.byEvent("$e1"), m);
      assert.equal(await messages.byEvent("$e2"), undefined);
      assert.deepEqual(await messages.byMessage("a@p.test", "M1"), m);
      // Another sender may use the same message id (ids are only unique per sender).
      await messages.put({ ...m, matrixEventId: "$e3", peopleSender: "joe@o.test" });
      assert.equal((await messages.byMessage("joe@o.test", "M1"))?.matrixEventId, "$e3");
      assert.deepEqual(
        (await messages.messagesInRoom("!r", ["M1", "M404"])).map((r) => r.matrixEventId).sort(),
        ["$e1", "$e3"],
      );
      assert.deepEqual(
        (await messages.eventsInRoom("!r", ["$e1", "$e3", "$e404"])).map((r) => r.peopleSender).sort(),
        ["a@p.test", "joe@o.test"],
      );
      assert.deepEqual(await messages.eventsInRoom("!other", ["$e1"]), []);
    });

    it("catch-up marks: seen only moves forward; a candidate becomes safe one quiet check later", async function () {
      const marks = store.catchUp;
      const mark = async (roomId: string) => (await marks.list()).find((m) => m.roomId === roomId);
      // A room first seen in a transaction is safe from that event's time, without an event yet.
      await marks.seen("!c1", "$a", 100);
      assert.deepEqual(await mark("!c1"), { roomId: "!c1", eventId: null, eventTs: 100 });
      await marks.seen("!c1", "$b", 200);
      await marks.seen("!c1", "$old", 150); // a late writer with an older event
      await marks.promote(); // candidate := $b
      assert.deepEqual(await mark("!c1"), { roomId: "!c1", eventId: null, eventTs: 100 });
      await marks.seen("!c1", "$c", 300);
      await marks.promote(); // safe := $b, candidate := $c
      assert.deepEqual(await mark("!c1"), { roomId: "!c1", eventId: "$b", eventTs: 200 });
      // Catch-up starting: the candidate ($c) is forgotten and never becomes safe.
      await marks.forgetCandidates();
      await marks.promote();
      assert.deepEqual(await mark("!c1"), { roomId: "!c1", eventId: "$b", eventTs: 200 });
      // Catch-up's own progress is safe at once, and seen.
      await marks.caughtUp("!c1", "$d", 400);
      assert.deepEqual(await mark("!c1"), { roomId: "!c1", eventId: "$d", eventTs: 400 });
      await marks.seen("!c1", "$older", 350);
      await marks.promote();
      await marks.promote();
      assert.deepEqual(await mark("!c1"), { roomId: "!c1", eventId: "$d", eventTs: 400 });
    });

    it("migration 004 gives the portals made before it a mark from when they were made", async function () {
      let seedConfig: BridgeStoreConfig;
      if (engine === "sqlite") seedConfig = { engine, connection: join(tempDir!, "seed.db") };
      else seedConfig = { engine, connection: await (await testPostgres()).createDatabase("bridge-seed") };
      const db = knex(
        engine === "sqlite"
          ? {
              client: "better-sqlite3",
              connection: { filename: seedConfig.connection },
              useNullAsDefault: true,
            }
          : { client: "pg", connection: seedConfig.connection },
      );
      try {
        const o = { migrationSource: bridgeMigrationSource, tableName: BRIDGE_MIGRATIONS_TABLE };
        await db.migrate.up(o); // 001
        await db.migrate.up(o); // 002
        await db("portals").insert({
          room_id: "!old:hs",
          matrix_user: "@a:hs",
          people_address: "joe@o.test",
          created_at: 1234,
        });
      } finally {
        await db.destroy();
      }
      const seeded = await openBridgeStore(seedConfig);
      try {
        assert.deepEqual(await seeded.catchUp.list(), [{ roomId: "!old:hs", eventId: null, eventTs: 1234 }]);
      } finally {
        await seeded.close();
      }
    });

    it("keeps one ghost profile record per address, replaced by the newer", async function () {
      assert.equal(await store.ghostProfiles.get("joe@example.com"), undefined);
      const first = {
        address: "joe@example.com",
        displayName: "Joe (People)",
        avatarHash: "h".repeat(43),
        avatarMxc: "mxc://hs/a",
        fetchedAt: 1_000,
      };
      await store.ghostProfiles.put(first);
      assert.deepEqual(await store.ghostProfiles.get("joe@example.com"), first);
      const second = {
        ...first,
        displayName: "Joseph (People)",
        avatarHash: null,
        avatarMxc: null,
        fetchedAt: 2_000,
      };
      await store.ghostProfiles.put(second);
      assert.deepEqual(await store.ghostProfiles.get("joe@example.com"), second);
    });

    it("records one bridge state label per portal room, replaced by the newer and forgotten on request", async function () {
      const states = store.bridgeStates ?? assert.fail("no bridge state records");
      assert.deepEqual(await states.all(), new Map());
      await states.put("!a:hs", "h1");
      await states.put("!b:hs", "h2");
      await states.put("!a:hs", "h3");
      assert.deepEqual(
        await states.all(),
        new Map([
          ["!a:hs", "h3"],
          ["!b:hs", "h2"],
        ]),
      );
      await states.forget("!a:hs");
      await states.forget("!never:hs");
      assert.deepEqual(await states.all(), new Map([["!b:hs", "h2"]]));
    });

    it("keeps each Matrix event to retry once, in the order kept, rescheduled and removed by id", async function () {
      const kept = (id: string, waitsFor: string | null = null) => ({
        eventId: id,
        roomId: "!retry:hs",
        eventJson: JSON.stringify({ event_id: id }),
        waitsFor,
        firstFailedAt: 1_700_000_000_000,
        attempts: waitsFor ? 0 : 1,
        nextAttemptAt: 1_700_000_001_000,
      });
      assert.equal(await store.eventRetries.put(kept("$img")), true);
      assert.equal(await store.eventRetries.put(kept("$reaction", "$img")), true);
      // The same event again (a transaction delivered twice) changes nothing.
      assert.equal(await store.eventRetries.put({ ...kept("$img"), attempts: 9 }), false);
      await store.eventRetries.reschedule("$img", 2, 1_700_000_003_000);
      assert.deepEqual(await store.eventRetries.list(), [
        { ...kept("$img"), attempts: 2, nextAttemptAt: 1_700_000_003_000 },
        kept("$reaction", "$img"),
      ]);
      await store.eventRetries.remove("$img");
      await store.eventRetries.remove("$reaction");
      assert.deepEqual(await store.eventRetries.list(), []);
    });

    it("keeps a message's send status by event, found by (sender, message), updated in place, removed", async function () {
      const record = {
        matrixEventId: "$status1",
        roomId: "!r:hs",
        peopleSender: "alice@people.test",
        peopleMessageId: "msg-status-1",
        noticeGhost: "joe@other.test",
        label: "joe@other.test",
        copies: { "joe@other.test": { state: "waiting" as const, code: "PEOPLE_UNAVAILABLE" } },
        said: "PENDING" as const,
        updatedAt: 1_000,
      };
      assert.equal(await store.sendStatus.byMessage(record.peopleSender, record.peopleMessageId), undefined);
      await store.sendStatus.put(record);
      assert.deepEqual(await store.sendStatus.byMessage(record.peopleSender, record.peopleMessageId), record);
      const failed = {
        ...record,
        copies: { "joe@other.test": { state: "failed" as const, code: "PEOPLE_EXPIRED" } },
        said: "FAIL_PERMANENT" as const,
        updatedAt: 2_000,
      };
      await store.sendStatus.put(failed);
      assert.deepEqual(await store.sendStatus.byMessage(record.peopleSender, record.peopleMessageId), failed);
      // UNIQUE(people_sender, people_message_id): another event cannot claim the same message.
      await assert.rejects(store.sendStatus.put({ ...record, matrixEventId: "$other" }));
      await store.sendStatus.remove(record.matrixEventId);
      assert.equal(await store.sendStatus.byMessage(record.peopleSender, record.peopleMessageId), undefined);
    });

    it("keeps one relay per room (013): set again it is replaced, removed it is gone", async function () {
      assert.equal(await store.relays.get("!relay:hs"), undefined);
      await store.relays.put({ roomId: "!relay:hs", matrixUser: "@alice:hs", createdAt: 1 });
      await store.relays.put({ roomId: "!relay:hs", matrixUser: "@bob:hs", createdAt: 2 });
      await store.relays.put({ roomId: "!other:hs", matrixUser: "@alice:hs", createdAt: 3 });
      assert.deepEqual(await store.relays.get("!relay:hs"), {
        roomId: "!relay:hs",
        matrixUser: "@bob:hs",
        createdAt: 2,
      });
      assert.equal(await store.relays.remove("!relay:hs"), true);
      assert.equal(await store.relays.remove("!relay:hs"), false);
      assert.equal(await store.relays.get("!relay:hs"), undefined);
      assert.equal((await store.relays.get("!other:hs"))?.matrixUser, "@alice:hs");
    });

    it("keeps a bridged call once per call id and per session (017), its People device set later, ended, then pruned", async function () {
      const call = {
        callId: "call-1",
        session: "SSSSSSSSSSSSSSSSSSSSSA",
        roomId: "!dm:hs",
        matrixUser: "@alice:hs",
        peopleAddress: "joe@other.test",
        direction: "to_people" as const,
        peopleDevice: undefined,
        createdAt: 5,
      };
      await store.calls.put(call);
      await store.calls.put({ ...call, roomId: "!again:hs" });
      assert.deepEqual(await store.calls.byCallId("call-1"), { ...call, endedAt: undefined });
      await assert.rejects(store.calls.put({ ...call, callId: "call-2" }), "one row per People session");
      await store.calls.setPeopleDevice("call-1", "JOEDEVICE");
      assert.equal((await store.calls.bySession(call.session))?.peopleDevice, "JOEDEVICE");
      assert.equal((await store.calls.all()).length, 1);
      await store.calls.end("call-1", 100);
      assert.deepEqual(await store.calls.all(), [], "an ended call is not live");
      assert.equal((await store.calls.byCallId("call-1"))?.endedAt, 100, "but kept, so a replay finds it");
      await store.calls.prune(100);
      assert.ok(await store.calls.byCallId("call-1"), "kept until it ended before the bound");
      await store.calls.prune(101);
      assert.equal(await store.calls.byCallId("call-1"), undefined);
    });

    it("keeps a MatrixRTC call (023) once per call id, updated as it learns, listed oldest first, removed", async function () {
      const calls = store.rtcCalls ?? assert.fail("no rtc_calls");
      const call = {
        callId: "rtc-1",
        roomId: "!dm:hs",
        matrixUser: "@alice:hs",
        peopleAddress: "joe@other.test",
        ghost: "@_people_joe=40other.test:hs",
        direction: "to_people" as const,
        media: "voice" as const,
        state: "ringing" as const,
        createdAt: 10,
      };
      await calls.put(call);
      await calls.put({ ...call, roomId: "!again:hs" });
      await calls.put({ ...call, callId: "rtc-0", direction: "to_matrix", session: "S0", createdAt: 9 });
      const none = { session: undefined, ghostDevice: undefined, delayId: undefined, answeredAt: undefined };
      assert.deepEqual((await calls.all()).at(1), { ...call, ...none });
      await calls.update("rtc-1", { session: "S1" });
      await calls.update("rtc-1", { ghostDevice: "GHOSTDEV", delayId: "syd_1" });
      await calls.update("rtc-1", { state: "active", answeredAt: 2_000_000_000_000 });
      await calls.update("rtc-1", {});
      assert.deepEqual(
        (await calls.all()).map((c) => c.callId),
        ["rtc-0", "rtc-1"],
      );
      assert.deepEqual((await calls.all()).at(1), {
        ...call,
        state: "active",
        session: "S1",
        ghostDevice: "GHOSTDEV",
        delayId: "syd_1",
        answeredAt: 2_000_000_000_000,
      });
      await calls.remove("rtc-1");
      await calls.remove("rtc-0");
      assert.deepEqual(await calls.all(), []);
    });

    it("keeps a post room's cursor per member's feed (020): only forward, gone with the room", async function () {
      const rooms = store.postRooms;
      assert.equal(
        await rooms.put({ roomId: "!pg:hs", matrixUser: "@a:hs", audience: "g1", createdAt: 1 }),
        true,
      );
      assert.equal(await rooms.cursorOf("!pg:hs", "joe@p.test"), 0);
      await rooms.putCursor("!pg:hs", "joe@p.test", 7);
      await rooms.putCursor("!pg:hs", "ann@p.test", 3);
      await rooms.putCursor("!pg:hs", "joe@p.test", 5); // a slower read finishing late
      assert.equal(await rooms.cursorOf("!pg:hs", "joe@p.test"), 7);
      assert.equal(await rooms.cursorOf("!pg:hs", "ann@p.test"), 3);
      await rooms.putCursor("!pg:hs", "joe@p.test", 12);
      assert.equal(await rooms.cursorOf("!pg:hs", "joe@p.test"), 12);
      await rooms.remove("!pg:hs");
      assert.equal(await rooms.cursorOf("!pg:hs", "joe@p.test"), 0);
    });

    it("keeps its data when opened again (migrations are not re-run)", async function () {
      await store.close();
      store = await openBridgeStore(config);
      assert.ok(await store.transactions.get("t2"));
      assert.equal((await store.managementRooms.forUser("@a:hs"))?.roomId, "!three:hs");
      await store.ping();
    });
  });
}
