// Bridge state events of the portals (portals/bridge-state.ts) on a fake
// homeserver that keeps room state and power: set where missing or changed,
// left alone where in place, sent by a ghost allowed to, a few rooms at a time,
// and one failing room does not stop the others.
import assert from "node:assert/strict";
import { BridgeError } from "../../src/bridge/core/error-kinds.js";
import { dmBridgeInfo, groupBridgeInfo } from "../../src/bridge/model/bridge-info.js";
import type { MatrixUserId } from "../../src/bridge/model/matrix-ids.js";
import { BridgeState } from "../../src/bridge/portals/bridge-state.js";
import type { BridgeStateRecordStore, GroupPortal, Portal } from "../../src/bridge/core/ports/store.js";
import { parseAddress } from "../../src/people/protocol/address.js";
import { FakeGhosts, silentLog } from "../helpers/portal-fakes.js";

const BOT = "@bot:hs.test";

/** Ghosts whose rooms keep state; only ghosts in `powerful` may set it; rooms in `broken` fail. */
class StatefulGhosts extends FakeGhosts {
  override readonly state = new Map<string, Record<string, unknown>>();
  readonly writes: { ghost: string; roomId: string; type: string; stateKey: string }[] = [];
  readonly powerful = new Set<string>();
  readonly broken = new Set<string>();
  inFlight = 0;
  maxInFlight = 0;
  reads = 0;

  override async roomState(_ghost: MatrixUserId, roomId: string, type: string, stateKey: string) {
    if (this.broken.has(roomId)) throw new Error("the homeserver is confused");
    this.reads++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setImmediate(r));
    this.inFlight--;
    const content = this.state.get(`${roomId}|${type}|${stateKey}`);
    return content && { content };
  }

  override async setRoomState(
    ghost: MatrixUserId,
    roomId: string,
    type: string,
    stateKey: string,
    content: Record<string, unknown>,
  ) {
    if (!this.powerful.has(ghost)) {
      throw new BridgeError("matrix_http", "PUT state: 403", { status: 403, errcode: "M_FORBIDDEN" });
    }
    this.writes.push({ ghost, roomId, type, stateKey });
    this.state.set(`${roomId}|${type}|${stateKey}`, structuredClone(content));
  }
}

const JOE = parseAddress("joe@other.test");
const ANN = parseAddress("ann@other.test");

/** The store's records, in memory. */
class MemoryRecords implements BridgeStateRecordStore {
  readonly labels = new Map<string, string>();
  async all() {
    return new Map(this.labels);
  }
  async put(roomId: string, label: string) {
    this.labels.set(roomId, label);
  }
  async forget(roomId: string) {
    this.labels.delete(roomId);
  }
}

function world(o: { records?: BridgeStateRecordStore; bot?: string } = {}) {
  const ghosts = new StatefulGhosts();
  const portals: Portal[] = [];
  const groups: GroupPortal[] = [];
  const state = new BridgeState({
    ghosts,
    portals: { list: async () => portals },
    groups: { list: async () => groups },
    botUserId: o.bot ?? BOT,
    peopleDomain: "people.test",
    log: silentLog,
    concurrency: 2,
    ...(o.records ? { records: o.records } : {}),
  });
  return { ghosts, portals, groups, state };
}

describe("bridge state events of the portals", function () {
  it("sets both types on a DM and a group, then finds them in place", async function () {
    const { ghosts, portals, groups, state } = world();
    ghosts.powerful.add(ghosts.ghostId(JOE));
    ghosts.powerful.add(ghosts.ghostId(ANN));
    portals.push({ roomId: "!dm:hs.test", matrixUser: "@alice:hs.test", peopleAddress: JOE, createdAt: 1 });
    groups.push({
      roomId: "!g:hs.test",
      members: [
        { address: "alice@people.test", matrixUser: "@alice:hs.test" },
        { address: ANN },
        { address: JOE },
      ],
      createdAt: 2,
    });
    assert.deepEqual(await state.syncAll(), { set: 2, unchanged: 0, skipped: 0, recorded: 0, failed: 0 });
    const dm = dmBridgeInfo(BOT, JOE);
    for (const type of ["m.bridge", "uk.half-shot.bridge"]) {
      assert.deepEqual(ghosts.state.get(`!dm:hs.test|${type}|${dm.stateKey}`), dm.content);
    }
    // No m.room.name in the group room: named after its ghosts.
    const g = groupBridgeInfo(BOT, "people.test", "!g:hs.test", "ann@other.test, joe@other.test");
    assert.deepEqual(ghosts.state.get(`!g:hs.test|m.bridge|${g.stateKey}`), g.content);
    assert.equal(ghosts.writes.length, 4);
    assert.deepEqual(await state.syncAll(), { set: 0, unchanged: 2, skipped: 0, recorded: 0, failed: 0 });
    assert.equal(ghosts.writes.length, 4, "nothing written again");
  });

  it("writes only the type that is missing or changed", async function () {
    const { ghosts, portals, state } = world();
    ghosts.powerful.add(ghosts.ghostId(JOE));
    portals.push({ roomId: "!dm:hs.test", matrixUser: "@alice:hs.test", peopleAddress: JOE, createdAt: 1 });
    await state.syncAll();
    const key = dmBridgeInfo(BOT, JOE).stateKey;
    ghosts.state.set(`!dm:hs.test|uk.half-shot.bridge|${key}`, { stale: true });
    ghosts.writes.length = 0;
    assert.deepEqual(await state.syncAll(), { set: 1, unchanged: 0, skipped: 0, recorded: 0, failed: 0 });
    assert.deepEqual(
      ghosts.writes.map((w) => w.type),
      ["uk.half-shot.bridge"],
    );
  });

  it("uses a ghost with the power, and skips a room where none has it", async function () {
    const { ghosts, groups, state } = world();
    ghosts.powerful.add(ghosts.ghostId(JOE)); // not Ann, the first ghost
    groups.push({ roomId: "!g:hs.test", members: [{ address: ANN }, { address: JOE }], createdAt: 1 });
    groups.push({
      roomId: "!h:hs.test",
      members: [{ address: ANN }, { address: parseAddress("bob@other.test") }],
      createdAt: 2,
    });
    assert.deepEqual(await state.syncAll(), { set: 1, unchanged: 0, skipped: 1, recorded: 0, failed: 0 });
    assert.ok(ghosts.writes.every((w) => w.ghost === ghosts.ghostId(JOE) && w.roomId === "!g:hs.test"));
  });

  it("checks a few rooms at a time, and one failing room does not stop the others", async function () {
    const { ghosts, portals, state } = world();
    for (let i = 0; i < 10; i++) {
      const address = parseAddress(`p${i}@other.test`);
      ghosts.powerful.add(ghosts.ghostId(address));
      portals.push({
        roomId: `!r${i}:hs.test`,
        matrixUser: "@alice:hs.test",
        peopleAddress: address,
        createdAt: i,
      });
    }
    ghosts.broken.add("!r3:hs.test");
    assert.deepEqual(await state.syncAll(), { set: 9, unchanged: 0, skipped: 0, recorded: 0, failed: 1 });
    assert.ok(ghosts.maxInFlight <= 2, `at most 2 rooms at once, saw ${ghosts.maxInFlight}`);
  });

  it("announceSoon returns at once and sets every portal's state later, a few at a time", async function () {
    const { ghosts, state } = world();
    ghosts.powerful.add(ghosts.ghostId(JOE));
    ghosts.broken.add("!r2:hs.test");
    for (let i = 0; i < 6; i++) state.announceSoon({ dm: { roomId: `!r${i}:hs.test`, peopleAddress: JOE } });
    // Nothing written before the caller went on.
    assert.equal(ghosts.writes.length, 0);
    await state.settled();
    // Both types in each room but the broken one (logged, not thrown), at most `concurrency` rooms at once.
    assert.equal(ghosts.writes.length, 10);
    assert.ok(!ghosts.writes.some((w) => w.roomId === "!r2:hs.test"));
    assert.ok(ghosts.maxInFlight <= 2, `at most 2 rooms at once, saw ${ghosts.maxInFlight}`);
  });

  it("with records, a start asks the homeserver only about rooms whose label is not recorded as it is now", async function () {
    const records = new MemoryRecords();
    const { ghosts, portals, groups, state } = world({ records });
    ghosts.powerful.add(ghosts.ghostId(JOE));
    ghosts.powerful.add(ghosts.ghostId(ANN));
    portals.push({ roomId: "!dm:hs.test", matrixUser: "@alice:hs.test", peopleAddress: JOE, createdAt: 1 });
    portals.push({ roomId: "!dm2:hs.test", matrixUser: "@bob:hs.test", peopleAddress: ANN, createdAt: 1 });
    groups.push({ roomId: "!g:hs.test", members: [{ address: ANN }, { address: JOE }], createdAt: 2 });
    assert.deepEqual(await state.syncAll(), { set: 3, unchanged: 0, skipped: 0, recorded: 0, failed: 0 });
    assert.equal(records.labels.size, 3);
    // The next start: the DMs are not asked about at all, the group only for its name (a rename changes the label).
    ghosts.reads = 0;
    assert.deepEqual(await state.syncAll(), { set: 0, unchanged: 0, skipped: 0, recorded: 3, failed: 0 });
    assert.equal(ghosts.reads, 1);
    assert.equal(ghosts.writes.length, 6, "nothing written again");
    // A room admin spoils one DM's label: only that room is checked and put right.
    ghosts.state.set(`!dm:hs.test|m.bridge|${dmBridgeInfo(BOT, JOE).stateKey}`, { stale: true });
    // Told of it (the room's event), the bridge forgets the record and puts the label right soon.
    await state.changedElsewhere({ dm: portals[0]! });
    assert.equal(records.labels.has("!dm:hs.test"), false);
    await state.settled();
    assert.equal(records.labels.has("!dm:hs.test"), true);
    assert.deepEqual(ghosts.writes.at(-1), {
      ghost: ghosts.ghostId(JOE),
      roomId: "!dm:hs.test",
      type: "m.bridge",
      stateKey: dmBridgeInfo(BOT, JOE).stateKey,
    });
  });

  it("with records, a new bridge bot's name makes every room's label checked again", async function () {
    const records = new MemoryRecords();
    const first = world({ records });
    first.ghosts.powerful.add(first.ghosts.ghostId(JOE));
    first.portals.push({
      roomId: "!dm:hs.test",
      matrixUser: "@alice:hs.test",
      peopleAddress: JOE,
      createdAt: 1,
    });
    await first.state.syncAll();
    const renamed = world({ records, bot: "@newbot:hs.test" });
    renamed.ghosts.powerful.add(renamed.ghosts.ghostId(JOE));
    renamed.portals.push(...first.portals);
    for (const [k, v] of first.ghosts.state) renamed.ghosts.state.set(k, v);
    assert.deepEqual(await renamed.state.syncAll(), {
      set: 1,
      unchanged: 0,
      skipped: 0,
      recorded: 0,
      failed: 0,
    });
    assert.equal(
      (
        renamed.ghosts.state.get(`!dm:hs.test|m.bridge|${dmBridgeInfo("@newbot:hs.test", JOE).stateKey}`) as {
          bridgebot?: string;
        }
      ).bridgebot,
      "@newbot:hs.test",
    );
  });

  it("announce records what it set, so the next start leaves the new portal alone", async function () {
    const records = new MemoryRecords();
    const { ghosts, portals, state } = world({ records });
    ghosts.powerful.add(ghosts.ghostId(JOE));
    const portal = { roomId: "!dm:hs.test", matrixUser: "@alice:hs.test", peopleAddress: JOE, createdAt: 1 };
    await state.announce({ dm: portal });
    portals.push(portal);
    ghosts.reads = 0;
    assert.deepEqual(await state.syncAll(), { set: 0, unchanged: 0, skipped: 0, recorded: 1, failed: 0 });
    assert.equal(ghosts.reads, 0);
  });

  it("a burst of label changes in one room queues one check of it, not one per change", async function () {
    const records = new MemoryRecords();
    const { ghosts, portals, state } = world({ records });
    ghosts.powerful.add(ghosts.ghostId(JOE));
    for (let i = 0; i < 3; i++)
      portals.push({
        roomId: `!r${i}:hs.test`,
        matrixUser: "@alice:hs.test",
        peopleAddress: JOE,
        createdAt: i,
      });
    // Two rooms in flight (concurrency 2), so later changes wait in the queue.
    for (const p of portals) await state.changedElsewhere({ dm: p });
    for (let i = 0; i < 50; i++) await state.changedElsewhere({ dm: portals[2]! });
    await state.settled();
    // Each of the three rooms read once for each of its two types, however many changes came.
    assert.equal(ghosts.reads, 6);
    assert.equal(records.labels.size, 3);
  });

  it("announce never throws: a new portal is made even when its state cannot be set", async function () {
    const { ghosts, state } = world();
    ghosts.broken.add("!dm:hs.test");
    await state.announce({ dm: { roomId: "!dm:hs.test", peopleAddress: JOE } });
    assert.equal(ghosts.writes.length, 0);
  });
});
