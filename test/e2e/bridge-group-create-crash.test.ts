// `group create` survives the bridge being SIGKILLed between making the People
// group and recording its room (feeds/post-rooms.ts): the bridge runs as its
// real command in a child process; Alice sends `group create`; the test
// watches her People client's store and kills the bridge the moment the group
// is in it. When the room was not recorded yet (else it tries again with a new
// command), the bridge starts again, Synapse delivers the command again, and
// then the group and its room are each there once: counted in her People
// client's store (groups) and in the bridge's store (post_rooms), both read
// from their SQLite files.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { setTimeout as sleep } from "node:timers/promises";
import { eventually, type MatrixUser } from "../helpers/bridge-harness.js";
import { BridgeWorld } from "../helpers/bridge-world.js";
import { roomRest } from "../helpers/room-rest.js";

/** A count from a SQLite file another process writes (opened per read, never writing). */
function count(file: string, sql: string): number {
  if (!existsSync(file)) return 0;
  // The client store's own typing of better-sqlite3 (src/people/client/better-sqlite3.d.ts) has no
  // `readonly` option: query_only keeps this connection from writing.
  const db = new Database(file, { timeout: 5_000 });
  try {
    db.pragma("query_only = 1");
    return (db.prepare(sql).get() as { n: number }).n;
  } catch (err) {
    // A store being made: its file is there a moment before its tables (seen once under load).
    if (err instanceof Error && /no such table/.test(err.message)) return 0;
    throw err;
  } finally {
    db.close();
  }
}

describe("crash safety of `group create`: the bridge SIGKILLed between the People group and its room", function () {
  this.timeout(300_000);
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let management: string;

  const w = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const user = (): MatrixUser => alice ?? assert.fail("alice not started");
  const rest = roomRest(
    () => w().hs,
    () => user().accessToken,
  );
  const dataDir = () => join(w().files.dir, "data");
  const clientDb = () =>
    join(dataDir(), "users", createHash("sha256").update(user().userId).digest("hex"), "client.db");
  const groups = () => count(clientDb(), "SELECT COUNT(*) AS n FROM groups");
  const recorded = () =>
    count(join(dataDir(), "bridge.db"), `SELECT COUNT(*) AS n FROM post_rooms WHERE audience <> 'public'`);
  /** The rooms Alice was invited to (or joined) with this name. */
  const roomsNamed = (name: string) =>
    user()
      .client.getRooms()
      .filter((r) => r.name === name && ["invite", "join"].includes(r.getMyMembership())).length;
  const send = (body: string) => rest.send(management, "m.room.message", { msgtype: "m.text", body });

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({ permissions: { "@alice:localhost": "user" }, childProcess: true });
    alice = await w().startMatrixUser("alice");
    management = await rest.managementRoom();
    // Her People account first (its client store is what the test watches): `posts room` makes it.
    await send("posts room");
    await eventually(
      "Alice's People client store",
      () => (existsSync(clientDb()) ? true : undefined),
      60_000,
    );
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  it("makes one group and records one room for it after a kill and a redelivery", async function () {
    const MAX_TRIES = 6;
    let hit = false;
    let tries = 0;
    while (!hit && tries < MAX_TRIES) {
      tries++;
      const before = groups();
      assert.equal(recorded(), before, "every group so far has its room");
      await send(`group create Crash ${tries}`);
      // Polled tightly: the window is one People send and one Synapse createRoom long.
      const deadline = Date.now() + 60_000;
      while (groups() === before) {
        if (Date.now() > deadline) assert.fail("timed out waiting for the People group in Alice's store");
        await sleep(2);
      }
      await w().child.kill("SIGKILL");
      hit = recorded() === before;
      console.log(`      try ${tries}: killed ${hit ? "before" : "after"} the room was recorded`);
      await w().child.start(120_000);
      await eventually(
        "the group's room recorded after the restart",
        () => (recorded() === before + 1 ? true : undefined),
        120_000,
      );
    }
    assert.ok(hit, `no kill landed between the group and its room in ${MAX_TRIES} tries`);
    assert.equal(groups(), tries, "one People group per command");
    assert.equal(recorded(), tries, "one room recorded per group");
    // Alice's rooms of each name. Not asserted: a kill after Synapse made the room and before its row
    // leaves that room behind (ARCHITECTURE "`group create` once", left open), and the kill here may
    // land there; the run says which.
    for (let t = 1; t <= tries; t++) {
      await eventually(
        `Alice's invite to "Crash ${t}"`,
        () => (roomsNamed(`Crash ${t}`) > 0 ? true : undefined),
        60_000,
      );
      console.log(`      "Crash ${t}": ${roomsNamed(`Crash ${t}`)} room(s) for Alice, 1 recorded`);
    }
  });
});
