// `group create` once (feeds/post-rooms.ts): the People group's id derives from
// the command's event, so the command read again (a bridge killed on the way)
// asks People for the same group, and finds its room when that was recorded.
// The People side here is a fake that keeps groups by the id asked for; the
// real client's "same id, same group" is in test/integration/client-groups.
import assert from "node:assert/strict";
import { PostRooms } from "../../src/bridge/feeds/post-rooms.js";
import type { PostWriter } from "../../src/bridge/core/ports/people-side.js";
import type { PostRoom, PostRoomStore } from "../../src/bridge/core/ports/store.js";
import { FakeAccount, FakeGhosts, FakePeople, silentLog } from "../helpers/portal-fakes.js";

class MemoryPostRooms implements PostRoomStore {
  readonly rows: PostRoom[] = [];
  async put(room: PostRoom): Promise<boolean> {
    if (this.rows.some((r) => r.matrixUser === room.matrixUser && r.audience === room.audience)) return false;
    this.rows.push(room);
    return true;
  }
  async byRoom(roomId: string) {
    return this.rows.find((r) => r.roomId === roomId);
  }
  async of(matrixUser: string, audience: string) {
    return this.rows.find((r) => r.matrixUser === matrixUser && r.audience === audience);
  }
  async rooms() {
    return [...this.rows];
  }
  async remove() {}
  async putEvent() {}
  async postOfEvent() {
    return undefined;
  }
  async cursorOf() {
    return 0;
  }
  async putCursor() {}
}

/** Groups kept by id: asking again with the same source is the same group, as the client does. */
function writerFor(groups: Map<string, string>): PostWriter {
  const fail = () => Promise.reject(new Error("not in this test"));
  return {
    createGroup: async (name, sourceId) => {
      const id = `g:${sourceId}`;
      if (!groups.has(id)) groups.set(id, name);
      return { id, epoch: 0 };
    },
    addMember: fail,
    removeMember: fail,
    rename: fail,
    setDetails: fail,
    members: fail,
    post: fail,
  };
}

describe("group create: one group and one room per command", function () {
  const USER = "@alice:hs.test";
  let ghosts: FakeGhosts;
  let store: MemoryPostRooms;
  let groups: Map<string, string>;
  let rooms: PostRooms;

  beforeEach(function () {
    ghosts = new FakeGhosts();
    store = new MemoryPostRooms();
    groups = new Map();
    const people = new FakePeople();
    const accountFor = people.accountFor.bind(people);
    people.accountFor = async (userId: string): Promise<FakeAccount> =>
      Object.assign(await accountFor(userId), { postWriter: writerFor(groups) });
    rooms = new PostRooms({
      ghosts,
      people,
      store,
      feedStore: undefined as never, // not read by createGroup
      botUserId: "@bot:hs.test",
      log: silentLog,
      maxMediaBytes: 1024,
    });
  });

  it("the same command read again returns its room; another command makes another group", async function () {
    const first = await rooms.createGroup(USER, "Hikers", "$event1");
    const again = await rooms.createGroup(USER, "Hikers", "$event1");
    assert.equal(again.roomId, first.roomId);
    assert.equal(ghosts.groupRooms.length, 1);
    assert.equal(groups.size, 1);
    const other = await rooms.createGroup(USER, "Hikers", "$event2");
    assert.notEqual(other.roomId, first.roomId);
    assert.equal(groups.size, 2);
  });

  it("killed after the group was made and before its room: the command again makes the room for that group", async function () {
    const create = ghosts.createGroupRoom.bind(ghosts);
    ghosts.createGroupRoom = () => Promise.reject(new Error("killed"));
    await assert.rejects(rooms.createGroup(USER, "Hikers", "$event1"), /killed/);
    assert.equal(groups.size, 1, "the People group was made");
    ghosts.createGroupRoom = create;
    const room = await rooms.createGroup(USER, "Hikers", "$event1");
    assert.equal(groups.size, 1, "no second group");
    assert.equal(room.audience, [...groups.keys()][0]);
    assert.equal(store.rows.length, 1);
  });
});
