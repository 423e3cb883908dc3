// Group conversations started and shaped from Matrix, against the real thing:
// a real Synapse, the bridge with its People server (people.test), a second
// People server (other.test) with Joe, Ann and Carl as PeopleClients, and
// Matrix users Alice and Bob on matrix-js-sdk.
// - Alice makes a room (not a direct chat) inviting Joe's and Ann's ghosts at
//   once: it becomes their group conversation, both ways; a direct chat made
//   with two ghosts at once becomes a group of three as well.
// - A room Alice named, its ghosts invited one at a time: the first says it
//   waits, the second makes it a group, and the room keeps Alice's name.
// - A room the bridge made (from People) follows its members with its name and
//   topic, until Alice names it herself; then only the topic follows.
// - Bob, left out by Joe's People reply, is told by name and removed.
import assert from "node:assert/strict";
import type { MatrixEvent } from "matrix-js-sdk";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import {
  eventually,
  matrixApi,
  waitForTimelineEvent,
  type MatrixUser,
  type TestBridge,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf, keyOf, textIs } from "../helpers/bridge-world.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const BOB_PEOPLE = `bob@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const ANN = `ann@${OTHER}`;
const CARL = `carl@${OTHER}`;

type Json = Record<string, unknown>;
const sorted = (xs: readonly string[]) => [...xs].sort();

describe("group conversations from Matrix, names and topics, and users left out, on a real Synapse", function () {
  this.timeout(180_000); // generous: Synapse on a busy 2-core machine; every wait ends when its condition holds
  let world: BridgeWorld | undefined;
  const users: Record<string, MatrixUser> = {};

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const running = (): TestBridge => started().bridge;
  const user = (name: string): MatrixUser => users[name] ?? assert.fail(`${name} not logged in`);
  const alice = () => user("alice");

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user", "@bob:localhost": "user" },
    });
    for (const address of [JOE, ANN, CARL]) await world.startPeopleUser(address);
    for (const name of ["alice", "bob"]) users[name] = await world.startMatrixUser(name);
    for (const name of ["alice", "bob"]) await running().handle.accounts.accountFor(user(name).userId);
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") world?.printBridgeWarnings();
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  const content = (e: MatrixEvent): Json => e.getContent() as Json;
  const received = (address: string, match: (m: ReceivedMessage) => boolean) =>
    started().received(address, match);
  const noticeMatching = (pattern: RegExp) => (e: MatrixEvent) =>
    content(e).msgtype === "m.notice" && pattern.test(String(content(e).body));

  async function send(name: string, roomId: string, body: string): Promise<string> {
    const c = user(name).client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    return (await c.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body })).event_id;
  }

  async function createRoom(o: Json): Promise<string> {
    const made = await matrixApi(started().hs, alice().accessToken, "POST", "/_matrix/client/v3/createRoom", {
      preset: "private_chat",
      ...o,
    });
    return String(made.room_id);
  }

  async function joined(roomId: string): Promise<string[]> {
    const members = await matrixApi(
      started().hs,
      alice().accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/joined_members`,
    );
    return Object.keys(members.joined as Json).sort();
  }

  async function state(roomId: string, type: string): Promise<Json> {
    return matrixApi(
      started().hs,
      alice().accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${type}/`,
    ).catch(() => ({}));
  }

  async function setOf(roomId: string): Promise<string[] | undefined> {
    return (await running().handle.store.groups.byRoom(roomId))?.members.map((m) => m.address);
  }

  async function acceptInvite(name: string, roomId: string): Promise<void> {
    await eventually(`the invite to reach ${name}`, () =>
      user(name).client.getRoom(roomId)?.getMember(user(name).userId)?.membership === "invite"
        ? true
        : undefined,
    );
    await user(name).client.joinRoom(roomId);
  }

  it("a room Alice makes with Joe's and Ann's ghosts invited at once becomes their group conversation", async function () {
    const room = await createRoom({ is_direct: false, invite: [ghostOf(JOE), ghostOf(ANN)] });
    await waitForTimelineEvent(
      alice().client,
      room,
      noticeMatching(/@alice:localhost started a People conversation/),
    );
    assert.deepEqual(await setOf(room), sorted([ALICE_PEOPLE, ANN, JOE]));
    assert.deepEqual(await joined(room), sorted([alice().userId, ghostOf(ANN), ghostOf(JOE)]));
    await send("alice", room, "hello from a matrix room");
    for (const address of [JOE, ANN]) {
      const m = await received(address, textIs("hello from a matrix room"));
      assert.equal(m.from, ALICE_PEOPLE);
      assert.deepEqual(sorted(m.to), sorted([ANN, JOE]));
    }
    // Joe answers everyone: the same room (its set), not a new one.
    await started().person(JOE).client.sendText([ALICE_PEOPLE, ANN], "joe answers the matrix room");
    await waitForTimelineEvent(
      alice().client,
      room,
      (e) => e.getSender() === ghostOf(JOE) && content(e).body === "joe answers the matrix room",
    );
    assert.equal((await running().handle.store.groups.bySetKey(keyOf(ALICE_PEOPLE, ANN, JOE)))?.roomId, room);
  });

  it("a direct chat Alice makes with two ghosts invited at once becomes a group of three too", async function () {
    const room = await createRoom({
      preset: "trusted_private_chat",
      is_direct: true,
      invite: [ghostOf(CARL), ghostOf(ANN)],
    });
    await waitForTimelineEvent(alice().client, room, noticeMatching(/added/));
    assert.deepEqual(await setOf(room), sorted([ALICE_PEOPLE, ANN, CARL]));
    assert.equal(await running().handle.store.portals.byRoom(room), undefined);
    await send("alice", room, "a direct chat of three");
    const m = await received(ANN, textIs("a direct chat of three"));
    assert.deepEqual(sorted(m.to), sorted([ANN, CARL]));
  });

  it("a room Alice named, ghosts invited one at a time: the first waits, the second makes the group, the name stays", async function () {
    const room = await createRoom({ name: "Book club", invite: [ghostOf(CARL)] });
    await waitForTimelineEvent(
      alice().client,
      room,
      noticeMatching(/once two or more People addresses are in it/),
    );
    assert.equal(await setOf(room), undefined);
    await alice().client.invite(room, ghostOf(JOE));
    await waitForTimelineEvent(alice().client, room, noticeMatching(/started a People conversation/));
    assert.deepEqual(await setOf(room), sorted([ALICE_PEOPLE, CARL, JOE]));
    assert.equal((await state(room, "m.room.name")).name, "Book club");
    await send("alice", room, "welcome to the club");
    const m = await received(CARL, textIs("welcome to the club"));
    assert.deepEqual(sorted(m.to), sorted([CARL, JOE]));
  });

  it("a room the bridge made: its name and topic follow its members until Alice names it herself", async function () {
    await started().person(JOE).client.sendText([ALICE_PEOPLE, BOB_PEOPLE, CARL], "a people group");
    const group = await eventually("the group portal", () =>
      running().handle.store.groups.bySetKey(keyOf(JOE, CARL, ALICE_PEOPLE, BOB_PEOPLE)),
    );
    const room = group.roomId;
    await acceptInvite("alice", room);
    await acceptInvite("bob", room);
    assert.equal((await state(room, "m.room.name")).name, `${CARL}, ${JOE}`);
    const topic = (set: string[]) => `People conversation: ${sorted(set).join(", ")}`;
    assert.equal((await state(room, "m.room.topic")).topic, topic([ALICE_PEOPLE, BOB_PEOPLE, CARL, JOE]));
    await alice().client.invite(room, ghostOf(ANN));
    await waitForTimelineEvent(alice().client, room, noticeMatching(/added ann@other\.test/));
    // The store is written, and the name and topic follow, before the notice.
    assert.equal((await state(room, "m.room.name")).name, `${ANN}, ${CARL}, ${JOE}`);
    assert.equal(
      (await state(room, "m.room.topic")).topic,
      topic([ALICE_PEOPLE, ANN, BOB_PEOPLE, CARL, JOE]),
    );
    await alice().client.setRoomName(room, "Our plans");
    await eventually("Alice's name to be the room's", async () =>
      (await state(room, "m.room.name")).name === "Our plans" ? true : undefined,
    );
    await alice().client.kick(room, ghostOf(ANN));
    await waitForTimelineEvent(alice().client, room, noticeMatching(/ann@other\.test was removed/));
    assert.equal((await state(room, "m.room.name")).name, "Our plans");
    assert.equal((await state(room, "m.room.topic")).topic, topic([ALICE_PEOPLE, BOB_PEOPLE, CARL, JOE]));
  });

  it("Bob, left out by Joe's People reply, is told by name and removed from the room", async function () {
    const group = (await running().handle.store.groups.bySetKey(keyOf(JOE, CARL, ALICE_PEOPLE, BOB_PEOPLE)))!;
    const room = group.roomId;
    const first = await running().handle.store.messages.byEvent(
      (
        await waitForTimelineEvent(alice().client, room, (e) => content(e).body === "a people group")
      ).getId()!,
    );
    await started().person(JOE).client.send([ALICE_PEOPLE, CARL], {
      type: "text",
      body: "just the three of us",
      reply_to: first!.peopleMessageId,
    });
    const told = await waitForTimelineEvent(
      alice().client,
      room,
      noticeMatching(/^@bob:localhost: joe@other\.test answered this People conversation without you/),
    );
    assert.equal(told.getSender(), ghostOf(JOE));
    const kicked = await waitForTimelineEvent(
      alice().client,
      room,
      (e) =>
        e.getType() === "m.room.member" &&
        e.getStateKey() === user("bob").userId &&
        content(e).membership === "leave",
    );
    assert.equal(kicked.getSender(), ghostOf(JOE));
    assert.deepEqual(await setOf(room), sorted([ALICE_PEOPLE, CARL, JOE]));
    await waitForTimelineEvent(alice().client, room, (e) => content(e).body === "just the three of us");
    assert.ok(!(await joined(room)).includes(user("bob").userId));
  });
});
