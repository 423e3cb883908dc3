// Feed rooms follow their author's People profile, over a real SQLite bridge
// store (a file, closed and opened again for the restart) and the real
// GhostProfiles: a new name or picture renames or repictures each of the
// author's feed rooms once, as the author's ghost, with the picture the ghost
// profile uploaded; an unchanged profile and a restart send nothing.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import type { BridgeStore } from "../../src/bridge/core/ports/store.js";
import { FeedProfiles } from "../../src/bridge/feeds/feed-profile.js";
import {
  GhostProfiles,
  type PeopleProfile,
  type ProfileReader,
} from "../../src/bridge/profiles/ghost-profiles.js";
import { parseAddress, type PeopleAddress } from "../../src/people/protocol/address.js";
import { FakeGhosts, newMetrics, silentLog } from "../helpers/portal-fakes.js";

const JOE = parseAddress("joe@other.test");
const ANN = parseAddress("ann@other.test");

class StateGhosts extends FakeGhosts {
  async setAvatar(): Promise<void> {}
}

class Reader implements ProfileReader {
  profile: PeopleProfile | null = null;
  async read(): Promise<PeopleProfile | null> {
    return this.profile;
  }
  async avatar(_a: PeopleAddress, p: PeopleProfile): Promise<Buffer> {
    return Buffer.from(`avatar ${p.avatar?.hash}`);
  }
}

describe("feed rooms follow the author's profile", function () {
  let dir: string;
  let store: BridgeStore;
  let ghosts: StateGhosts;
  let reader: Reader;
  let profiles: GhostProfiles;

  /** The bridge's parts over the store file, as startBridge wires them (a restart makes them again). */
  async function start(): Promise<void> {
    store = await openBridgeStore({ engine: "sqlite", connection: join(dir, "bridge.db") });
    profiles = new GhostProfiles({
      ghosts,
      reader,
      store: store.ghostProfiles,
      log: silentLog,
      metrics: newMetrics(),
      template: "{displayname} (People)",
      refreshIntervalMs: 60_000,
    });
    profiles.onProfile(new FeedProfiles({ ghosts, store: store.feeds, log: silentLog }).seen);
  }

  const refresh = (address: PeopleAddress) => profiles.refresh(ghosts.ghostId(address), address);
  const sets = (roomId: string, type: string) =>
    ghosts.stateSets.filter((s) => s.roomId === roomId && s.type === type);

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "feed-profile-"));
    ghosts = new StateGhosts();
    reader = new Reader();
    await start();
    // Two of Alice's and Bob's feed rooms of Joe (named at follow), one of Ann's.
    const room = (roomId: string, matrixUser: string, author: string, shownName?: string) =>
      store.feeds.putRoom({
        roomId,
        matrixUser,
        author,
        cursor: 0,
        createdAt: 1,
        ...(shownName !== undefined && { shownName, shownAvatar: "" }),
      });
    await room("!a:hs.test", "@alice:hs.test", JOE, "joe@other.test's posts");
    await room("!b:hs.test", "@bob:hs.test", JOE); // made before migration 022: nothing recorded
    await room("!c:hs.test", "@alice:hs.test", ANN, "Ann's posts");
  });

  afterEach(async function () {
    await profiles.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("renames and repictures each of the author's rooms once, and records it", async function () {
    reader.profile = {
      displayName: "Joe Smith",
      avatar: { server: "other.test", hash: "H1", mime: "image/png", size: 9 },
    };
    await refresh(JOE);
    for (const roomId of ["!a:hs.test", "!b:hs.test"]) {
      assert.deepEqual(
        sets(roomId, "m.room.name").map((s) => s.content),
        [{ name: "Joe Smith's posts" }],
      );
      const pictures = sets(roomId, "m.room.avatar");
      assert.equal(pictures.length, 1);
      assert.equal(pictures[0]!.ghost, ghosts.ghostId(JOE), "set as the author's ghost");
      // The picture the ghost profile uploaded, not a second upload.
      const url = String(pictures[0]!.content.url);
      assert.deepEqual(ghosts.media.get(url), Buffer.from("avatar H1"));
      assert.equal(ghosts.media.size, 1);
      const row = await store.feeds.byRoom(roomId);
      assert.equal(row?.shownName, "Joe Smith's posts");
      assert.equal(row?.shownAvatar, "H1");
    }
    assert.equal(sets("!c:hs.test", "m.room.name").length, 0, "Ann's room is not Joe's");

    // The same profile read again: nothing sent.
    const before = ghosts.stateSets.length;
    await profiles.refresh(ghosts.ghostId(JOE), JOE);
    assert.equal(ghosts.stateSets.length, before);
  });

  it("sends nothing again after a restart, and follows the next change", async function () {
    reader.profile = { displayName: "Joe" };
    await refresh(JOE);
    assert.equal(sets("!a:hs.test", "m.room.name").length, 1);
    assert.equal(sets("!a:hs.test", "m.room.avatar").length, 0, "no picture before or now");
    assert.equal(sets("!b:hs.test", "m.room.avatar").length, 1, "unknown before: set once (none)");
    const before = ghosts.stateSets.length;

    await profiles.close();
    await store.close();
    await start();
    await refresh(JOE);
    assert.equal(ghosts.stateSets.length, before, "a restart with the same profile sends nothing");

    reader.profile = { displayName: "Joseph" };
    await refresh(JOE);
    assert.deepEqual(
      sets("!a:hs.test", "m.room.name").map((s) => s.content.name),
      ["Joe's posts", "Joseph's posts"],
    );
  });

  it("removes the room's picture when the author removes theirs", async function () {
    reader.profile = { avatar: { server: "other.test", hash: "H1", mime: "image/png", size: 9 } };
    await refresh(JOE);
    reader.profile = {};
    await refresh(JOE);
    const pictures = sets("!a:hs.test", "m.room.avatar").map((s) => s.content);
    assert.equal(pictures.length, 2);
    assert.deepEqual(pictures[1], {});
    assert.equal((await store.feeds.byRoom("!a:hs.test"))?.shownAvatar, "");
  });

  it("leaves a room unfollowed meanwhile alone, and a failing room does not stop the others", async function () {
    await store.feeds.removeRoom("!a:hs.test");
    const fail = ghosts.setRoomState.bind(ghosts);
    ghosts.setRoomState = async (g, roomId, type, key, content) => {
      if (roomId === "!b:hs.test") throw new Error("403 no power");
      return fail(g, roomId, type, key, content);
    };
    await store.feeds.putRoom({
      roomId: "!d:hs.test",
      matrixUser: "@dan:hs.test",
      author: JOE,
      cursor: 0,
      createdAt: 2,
    });
    reader.profile = { displayName: "Joe" };
    await refresh(JOE);
    assert.equal(sets("!a:hs.test", "m.room.name").length, 0);
    assert.equal(sets("!d:hs.test", "m.room.name").length, 1);
    assert.equal((await store.feeds.byRoom("!b:hs.test"))?.shownName, undefined, "not recorded: tried again");
  });
});
