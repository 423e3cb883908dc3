// The group portal tables (003-groups) on SQLite and PostgreSQL: one room per
// participant set (its key unique), members replaced as a whole, an older
// room of the same set retired, rooms found by the People messages in them,
// and a failed write changing nothing.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { participantSet, setKey } from "../../src/bridge/model/participant-set.js";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import type { BridgeStore, BridgeStoreConfig, GroupMember } from "../../src/bridge/core/ports/store.js";
import { parseAddress } from "../../src/people/protocol/address.js";
import { ENGINES } from "../helpers/stores.js";
import { testPostgres } from "../helpers/postgres.js";

const keyOf = (...addresses: string[]) => setKey(participantSet(addresses.map((a) => parseAddress(a))));
const ALICE: GroupMember = { address: "alice@p.test", matrixUser: "@alice:hs" };
const BOB: GroupMember = { address: "bob@p.test", matrixUser: "@bob:hs" };
const JOE: GroupMember = { address: "joe@o.test" };
const ANN: GroupMember = { address: "ann@o.test" };
const CARL: GroupMember = { address: "carl@o.test" };

for (const engine of ENGINES) {
  describe(`bridge group portal store [${engine}]`, function () {
    let config: BridgeStoreConfig;
    let store: BridgeStore;
    let tempDir: string | undefined;

    before(async function () {
      this.timeout(180_000);
      if (engine === "sqlite") {
        tempDir = mkdtempSync(join(tmpdir(), "bridge-groups-"));
        config = { engine, connection: join(tempDir, "bridge.db") };
      } else {
        config = { engine, connection: await (await testPostgres()).createDatabase("bridge-groups") };
      }
      store = await openBridgeStore(config);
    });

    after(async function () {
      await store?.close();
      if (tempDir) rmSync(tempDir, { recursive: true, force: true });
    });

    it("finds a room by its set's key, whatever order the members came in", async function () {
      assert.deepEqual(
        await store.groups.put({ roomId: "!g1:hs", members: [JOE, ALICE, ANN], createdAt: 1 }),
        {},
      );
      const found = await store.groups.bySetKey(keyOf("ann@o.test", "joe@o.test", "alice@p.test"));
      assert.deepEqual(found, { roomId: "!g1:hs", members: [ALICE, ANN, JOE], createdAt: 1 });
      assert.deepEqual(await store.groups.byRoom("!g1:hs"), found);
      assert.equal(await store.groups.bySetKey(keyOf("joe@o.test", "alice@p.test")), undefined);
    });

    it("replaces a room's members and key as a whole", async function () {
      await store.groups.put({ roomId: "!g1:hs", members: [ALICE, ANN, CARL, JOE], createdAt: 1 });
      assert.equal(await store.groups.bySetKey(keyOf("ann@o.test", "joe@o.test", "alice@p.test")), undefined);
      const now = await store.groups.bySetKey(
        keyOf("ann@o.test", "carl@o.test", "joe@o.test", "alice@p.test"),
      );
      assert.equal(now?.roomId, "!g1:hs");
      assert.equal(now?.members.length, 4);
      assert.equal(await store.groups.count(), 1);
    });

    it("retires an older room when another takes its set", async function () {
      await store.groups.put({ roomId: "!g2:hs", members: [BOB, JOE, ANN], createdAt: 2 });
      assert.deepEqual(await store.groups.put({ roomId: "!g3:hs", members: [ANN, JOE, BOB], createdAt: 3 }), {
        replaced: "!g2:hs",
      });
      assert.equal(await store.groups.byRoom("!g2:hs"), undefined);
      assert.equal(
        (await store.groups.bySetKey(keyOf("bob@p.test", "joe@o.test", "ann@o.test")))?.roomId,
        "!g3:hs",
      );
    });

    it("finds the bridged Matrix users in a group with an address (once each)", async function () {
      // !g1: alice, ann, carl, joe; !g3: ann, joe, bob.
      assert.deepEqual(await store.groups.matrixUsersWith("joe@o.test"), ["@alice:hs", "@bob:hs"]);
      assert.deepEqual(await store.groups.matrixUsersWith("carl@o.test"), ["@alice:hs"]);
      assert.deepEqual(await store.groups.matrixUsersWith("alice@p.test"), ["@alice:hs"]);
      assert.deepEqual(await store.groups.matrixUsersWith("nobody@o.test"), []);
    });

    it("finds the group rooms of People messages (DM rooms are not groups)", async function () {
      const map = (event: string, id: string, room: string) =>
        store.messages.put({
          matrixEventId: event,
          peopleMessageId: id,
          peopleSender: "joe@o.test",
          roomId: room,
          createdAt: 1,
        });
      await map("$a", "MSG_A", "!g1:hs");
      await map("$b", "MSG_B", "!g3:hs");
      await map("$c", "MSG_C", "!dm:hs");
      assert.deepEqual(await store.groups.roomsOfMessages(["MSG_A", "MSG_B", "MSG_C", "NOPE"]), [
        "!g1:hs",
        "!g3:hs",
      ]);
      assert.deepEqual(await store.groups.roomsOfMessages(["MSG_C"]), []);
    });

    it("changes nothing when a write fails (a member listed twice)", async function () {
      const before = await store.groups.byRoom("!g3:hs");
      await assert.rejects(
        store.groups.put({ roomId: "!g3:hs", members: [ANN, ANN, JOE, BOB], createdAt: 3 }),
      );
      assert.deepEqual(await store.groups.byRoom("!g3:hs"), before);
    });

    it("removes a room with its members, and keeps the rest across a reopen", async function () {
      await store.groups.remove("!g3:hs");
      assert.equal(await store.groups.byRoom("!g3:hs"), undefined);
      await store.close();
      store = await openBridgeStore(config);
      assert.equal((await store.groups.byRoom("!g1:hs"))?.members.length, 4);
      assert.equal(await store.groups.count(), 1);
    });
  });
}
