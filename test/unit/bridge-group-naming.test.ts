// A group room's name and topic following its set (portals/group-naming.ts),
// over the fake homeserver: the bridge's name moves with the ghosts, a name
// someone else chose stays, the topic lists every participant, and a ghost
// without the power to change them is passed over for the next.
import assert from "node:assert/strict";
import { GroupNaming, bridgeRoomName, groupRoomTopic } from "../../src/bridge/portals/group-naming.js";
import type { MatrixUserId } from "../../src/bridge/model/matrix-ids.js";
import type { GroupMember } from "../../src/bridge/core/ports/store.js";
import { FakeGhosts, silentLog } from "../helpers/portal-fakes.js";

const ROOM = "!g:hs.test";
const ALICE: GroupMember = { address: "alice@people.test", matrixUser: "@alice:hs.test" };
const ANN: GroupMember = { address: "ann@other.test" };
const JOE: GroupMember = { address: "joe@other.test" };
const CARL: GroupMember = { address: "carl@other.test" };

describe("group room names and topics", function () {
  const setup = () => {
    const ghosts = new FakeGhosts();
    const naming = new GroupNaming({ ghosts, log: silentLog });
    const stateOf = (type: string) => ghosts.state.get(`${ROOM}\n${type}\n`);
    return { ghosts, naming, stateOf };
  };

  it("the bridge's name and topic follow the set", async function () {
    const { ghosts, naming, stateOf } = setup();
    const before = [ALICE, ANN, JOE];
    await ghosts.setRoomState(ghosts.ghostId(JOE.address as never), ROOM, "m.room.name", "", {
      name: bridgeRoomName(before),
    });
    await naming.follow(ROOM, before, [ALICE, ANN, CARL, JOE]);
    assert.deepEqual(stateOf("m.room.name"), { name: "ann@other.test, carl@other.test, joe@other.test" });
    assert.deepEqual(stateOf("m.room.topic"), {
      topic: "People conversation: alice@people.test, ann@other.test, carl@other.test, joe@other.test",
    });
    assert.equal(groupRoomTopic([JOE, ALICE]), "People conversation: alice@people.test, joe@other.test");
  });

  it("keeps a name someone else chose; an unnamed room gets the bridge's", async function () {
    const { ghosts, naming, stateOf } = setup();
    ghosts.state.set(`${ROOM}\nm.room.name\n`, { name: "Our plans" });
    await naming.follow(ROOM, [ALICE, ANN, JOE], [ALICE, JOE, CARL]);
    assert.deepEqual(stateOf("m.room.name"), { name: "Our plans" });
    const fresh = setup();
    await fresh.naming.follow(ROOM, undefined, [ALICE, ANN, JOE]);
    assert.deepEqual(fresh.stateOf("m.room.name"), { name: "ann@other.test, joe@other.test" });
  });

  it("passes over a ghost the homeserver refuses, and gives up quietly when none may", async function () {
    const { ghosts, naming, stateOf } = setup();
    const refused: string[] = [];
    const set = ghosts.setRoomState.bind(ghosts);
    ghosts.state.set(`${ROOM}\nm.room.create\n`, { room_version: "12" });
    // The room's creator (Joe's ghost) is tried first; here it may not, so Ann's ghost does it.
    const roomState = ghosts.roomState.bind(ghosts);
    ghosts.roomState = async (g, r, type, key) =>
      type === "m.room.create"
        ? { sender: ghosts.ghostId(JOE.address as never), content: {} }
        : roomState(g, r, type, key);
    ghosts.setRoomState = async (g: MatrixUserId, r, type, key, content) => {
      if (g === ghosts.ghostId(JOE.address as never)) {
        refused.push(g);
        throw new Error("403");
      }
      return set(g, r, type, key, content);
    };
    await naming.follow(ROOM, undefined, [ALICE, ANN, JOE]);
    assert.deepEqual(stateOf("m.room.name"), { name: "ann@other.test, joe@other.test" });
    // Once for the name, once for the topic.
    const joe = ghosts.ghostId(JOE.address as never);
    assert.deepEqual(refused, [joe, joe]);
    assert.ok(stateOf("m.room.topic"));
    ghosts.setRoomState = async () => {
      throw new Error("403");
    };
    await naming.follow(ROOM, [ALICE, ANN, JOE], [ALICE, ANN, JOE, CARL]);
    assert.deepEqual(stateOf("m.room.name"), { name: "ann@other.test, joe@other.test" });
  });
});
