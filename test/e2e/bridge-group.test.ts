// Group conversations against the real thing: a real Synapse, the bridge with
// its embedded People server (people.test), a second real People server
// (other.test) with People users there (Joe, Ann, Carl, Dan, Eve) as
// PeopleClients, and two Matrix users on matrix-js-sdk (Alice, Bob). A People
// conversation is its participant set; the bridge gives it one room with a
// ghost per People address. The tests run in order and share the room.
import assert from "node:assert/strict";
import type { MatrixEvent } from "matrix-js-sdk";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import {
  eventually,
  matrixApi,
  roomMessages,
  waitForTimelineEvent,
  type MatrixUser,
  type TestBridge,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf, keyOf, textIs } from "../helpers/bridge-world.js";
import type { SynapseHandle } from "../helpers/synapse.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const BOB_PEOPLE = `bob@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const ANN = `ann@${OTHER}`;
const CARL = `carl@${OTHER}`;
const DAN = `dan@${OTHER}`;
const EVE = `eve@${OTHER}`;
/** The cap of this bridge: a conversation with more People addresses gets no room. */
const MAX_GHOSTS = 4;

type Json = Record<string, unknown>;

const sorted = (xs: readonly string[]) => [...xs].sort();

describe("group conversations on a real Synapse and a second People server", function () {
  this.timeout(180_000); // generous: Synapse on a busy 2-core machine; every wait ends when its condition holds
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let bob: MatrixUser | undefined;
  let room: string;
  /** Fail the People → Matrix flow once, after the Matrix send, for messages with this body. */
  let crashAfterSend: string | undefined;
  let crashes = 0;

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const running = (): TestBridge => started().bridge;
  const synapse = (): SynapseHandle => started().hs;
  const userA = (): MatrixUser => alice ?? assert.fail("alice not logged in");
  const userB = (): MatrixUser => bob ?? assert.fail("bob not logged in");
  const client = (address: string) => started().person(address).client;
  const startBridge = () => started().startBridge();

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user", "@bob:localhost": "user" },
      configure: (input) => ({ ...input, bridge: { ...input.bridge, groups: { max_ghosts: MAX_GHOSTS } } }),
      bridgeOptions: {
        hooks: {
          afterMatrixSend(m) {
            if (m.content.type === "text" && m.content.body === crashAfterSend) {
              crashAfterSend = undefined;
              crashes++;
              throw new Error("simulated crash between the Matrix send and the mapping");
            }
          },
        },
      },
    });
    for (const address of [JOE, ANN, CARL, DAN, EVE]) await world.startPeopleUser(address);
    alice = await world.startMatrixUser("alice");
    bob = await world.startMatrixUser("bob");
    // Both Matrix users have their People accounts (made on first use, as the `dm` command would).
    await running().handle.accounts.accountFor(alice.userId);
    await running().handle.accounts.accountFor(bob.userId);
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  // --- helpers -------------------------------------------------------------

  const received = (address: string, match: (m: ReceivedMessage) => boolean) =>
    started().received(address, match);
  const copies = (address: string, body: string) =>
    started().person(address).rec.messages.filter(textIs(body)).length;

  const content = (e: MatrixEvent): Json => e.getContent() as Json;
  const fromGhost = (address: string, body: string) => (e: MatrixEvent) =>
    e.getSender() === ghostOf(address) && content(e).body === body;
  const noticeMatching = (pattern: RegExp) => (e: MatrixEvent) =>
    content(e).msgtype === "m.notice" && pattern.test(String(content(e).body));

  async function send(user: MatrixUser, roomId: string, body: string): Promise<string> {
    const c = user.client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    return (await c.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body })).event_id;
  }

  /** Waits for the invite, joins, and returns the invite's content. */
  async function acceptInvite(user: MatrixUser, roomId: string): Promise<Json> {
    const invite = await eventually(`the invite to reach ${user.userId}`, () => {
      const member = user.client.getRoom(roomId)?.getMember(user.userId);
      return member?.membership === "invite" ? member.events.member : undefined;
    });
    await user.client.joinRoom(roomId);
    await waitForTimelineEvent(
      user.client,
      roomId,
      (e) => e.getType() === "m.room.member" && e.getStateKey() === user.userId,
    );
    return (invite?.getContent() ?? {}) as Json;
  }

  async function joined(roomId: string): Promise<string[]> {
    const members = await matrixApi(
      synapse(),
      userA().accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/joined_members`,
    );
    return Object.keys(members.joined as Json).sort();
  }

  async function countBodies(roomId: string, body: string): Promise<number> {
    const events = await roomMessages(synapse(), userA().accessToken, roomId, 100);
    return events.filter((e) => (e.content as Json | undefined)?.body === body).length;
  }

  async function currentSet(): Promise<string[]> {
    const group = await running().handle.store.groups.byRoom(room);
    return (group?.members ?? []).map((m) => m.address);
  }

  // Ids shared by the tests, in order.
  let withoutAnnMessage: string;
  let okBobMessage: string;
  let okBobEvent: string;

  // --- the tests -------------------------------------------------------------

  it("Joe writes to Alice and Ann: one room (not a DM) with both ghosts, Alice invited", async function () {
    const sent = await client(JOE).sendText([ALICE_PEOPLE, ANN], "hello group");
    const group = await eventually("the group portal", () =>
      running().handle.store.groups.bySetKey(keyOf(JOE, ANN, ALICE_PEOPLE)),
    );
    room = group.roomId;
    const invite = await acceptInvite(userA(), room);
    assert.notEqual(invite.is_direct, true);
    const e = await waitForTimelineEvent(userA().client, room, fromGhost(JOE, "hello group"));
    assert.equal((await running().handle.store.messages.byEvent(e.getId()!))?.peopleMessageId, sent);
    assert.deepEqual(await joined(room), sorted([ghostOf(JOE), ghostOf(ANN), userA().userId]));
    const r = userA().client.getRoom(room)!;
    assert.equal(r.currentState.getStateEvents("m.room.create", "")?.getSender(), ghostOf(JOE));
    assert.equal(r.currentState.getStateEvents("m.room.name", "")?.getContent().name, `${ANN}, ${JOE}`);
    assert.deepEqual(await currentSet(), sorted([ALICE_PEOPLE, ANN, JOE]));
    // No DM portal was made for the conversation.
    assert.equal(await running().handle.store.portals.byPair(userA().userId, JOE), undefined);
  });

  it("Alice answers: Joe and Ann each receive it once, addressed to both", async function () {
    await send(userA(), room, "hi both");
    for (const address of [JOE, ANN]) {
      const m = await received(address, textIs("hi both"));
      assert.equal(m.from, ALICE_PEOPLE);
      assert.deepEqual(sorted(m.to), sorted([JOE, ANN]));
    }
  });

  it("Ann answers everyone: her ghost says it in the same room, once", async function () {
    await client(ANN).sendText([ALICE_PEOPLE, JOE], "ann here");
    await waitForTimelineEvent(userA().client, room, fromGhost(ANN, "ann here"));
    assert.equal(await countBodies(room, "ann here"), 1);
    assert.equal(await countBodies(room, "hello group"), 1);
    assert.equal(copies(JOE, "hi both"), 1);
    assert.equal(copies(ANN, "hi both"), 1);
    assert.equal(await running().handle.store.groups.count(), 1);
  });

  it("Alice invites Carl's ghost: it joins, a notice tells, and the next message goes to three", async function () {
    await userA().client.invite(room, ghostOf(CARL));
    await waitForTimelineEvent(userA().client, room, noticeMatching(/added carl@other\.test/));
    assert.deepEqual(await joined(room), sorted([ghostOf(JOE), ghostOf(ANN), ghostOf(CARL), userA().userId]));
    assert.deepEqual(await currentSet(), sorted([ALICE_PEOPLE, ANN, CARL, JOE]));
    await send(userA(), room, "welcome carl");
    for (const address of [JOE, ANN, CARL]) {
      const m = await received(address, textIs("welcome carl"));
      assert.deepEqual(sorted(m.to), sorted([JOE, ANN, CARL]));
    }
  });

  it("an invited ghost of an address without a People account declines, saying why", async function () {
    const nobody = ghostOf(`nobody@${OTHER}`);
    await userA().client.invite(room, nobody);
    const left = await waitForTimelineEvent(
      userA().client,
      room,
      (e) =>
        e.getType() === "m.room.member" && e.getStateKey() === nobody && content(e).membership === "leave",
    );
    assert.equal(content(left).reason, `nobody@${OTHER} has no People account.`);
    assert.deepEqual(await currentSet(), sorted([ALICE_PEOPLE, ANN, CARL, JOE]));
  });

  it("Alice removes Ann's ghost: a notice tells, and the next message leaves Ann out", async function () {
    await userA().client.kick(room, ghostOf(ANN));
    await waitForTimelineEvent(userA().client, room, noticeMatching(/ann@other\.test was removed/));
    assert.deepEqual(await currentSet(), sorted([ALICE_PEOPLE, CARL, JOE]));
    await send(userA(), room, "without ann");
    const m = await received(JOE, textIs("without ann"));
    assert.deepEqual(sorted(m.to), sorted([JOE, CARL]));
    await received(CARL, textIs("without ann"));
    withoutAnnMessage = m.id;
  });

  it("Joe adds Dan by answering everyone and Dan: Dan's ghost joins the same room", async function () {
    await client(JOE).send([ALICE_PEOPLE, CARL, DAN], {
      type: "text",
      body: "dan, meet everyone",
      reply_to: withoutAnnMessage,
    });
    await waitForTimelineEvent(userA().client, room, noticeMatching(/joe@other\.test added dan@other\.test/));
    await waitForTimelineEvent(userA().client, room, fromGhost(JOE, "dan, meet everyone"));
    assert.deepEqual(await joined(room), sorted([ghostOf(JOE), ghostOf(CARL), ghostOf(DAN), userA().userId]));
    assert.deepEqual(await currentSet(), sorted([ALICE_PEOPLE, CARL, DAN, JOE]));
    assert.equal(await running().handle.store.groups.count(), 1);
    // Dan answers everyone, without a reply: the set is the room's, so the same room.
    await client(DAN).sendText([ALICE_PEOPLE, CARL, JOE], "hello from dan");
    await waitForTimelineEvent(userA().client, room, fromGhost(DAN, "hello from dan"));
  });

  it("Bob, a second bridged Matrix user, is added by Joe: the same room, each message bridged once", async function () {
    const joeAdds = await client(JOE).send([ALICE_PEOPLE, CARL, DAN, BOB_PEOPLE], {
      type: "text",
      body: "bob joins us",
      reply_to: withoutAnnMessage,
    });
    await acceptInvite(userB(), room);
    // Alice's and Bob's accounts both received Joe's message; the room has it once.
    await waitForTimelineEvent(userB().client, room, fromGhost(JOE, "bob joins us"));
    assert.ok(await running().handle.store.messages.byMessage(JOE, joeAdds));
    assert.deepEqual(await currentSet(), sorted([ALICE_PEOPLE, BOB_PEOPLE, CARL, DAN, JOE]));

    // A message to the whole set reaches both bridged accounts and the room once.
    await client(CARL).sendText([ALICE_PEOPLE, BOB_PEOPLE, DAN, JOE], "carl to all");
    await waitForTimelineEvent(userB().client, room, fromGhost(CARL, "carl to all"));

    // Bob writes: it goes to everyone else, and Alice's copy is not brought back into the room.
    await send(userB(), room, "bob speaking");
    const m = await received(JOE, textIs("bob speaking"));
    assert.equal(m.from, BOB_PEOPLE);
    assert.deepEqual(sorted(m.to), sorted([ALICE_PEOPLE, CARL, DAN, JOE]));
    // Joe's answer comes after Bob's message reached Alice's account.
    okBobMessage = await client(JOE).sendText([ALICE_PEOPLE, BOB_PEOPLE, CARL, DAN], "ok bob");
    okBobEvent = (await waitForTimelineEvent(userA().client, room, fromGhost(JOE, "ok bob"))).getId()!;
    assert.equal(await countBodies(room, "bob joins us"), 1);
    assert.equal(await countBodies(room, "carl to all"), 1);
    assert.equal(await countBodies(room, "bob speaking"), 1);
    assert.equal(await countBodies(room, "ok bob"), 1);
    assert.equal(await running().handle.store.groups.count(), 1);
  });

  it("after a restart, a message sent meanwhile to both bridged users reaches the room once", async function () {
    await running().stop();
    await client(CARL).sendText([ALICE_PEOPLE, BOB_PEOPLE, DAN, JOE], "while you were away");
    await startBridge();
    await waitForTimelineEvent(userA().client, room, fromGhost(CARL, "while you were away"), 60_000);
    await send(userA(), room, "back again");
    const m = await received(JOE, textIs("back again"));
    assert.deepEqual(sorted(m.to), sorted([BOB_PEOPLE, CARL, DAN, JOE]));
    // Carl's answer arrives after both accounts had his earlier message.
    await client(CARL).sendText([ALICE_PEOPLE, BOB_PEOPLE, DAN, JOE], "welcome back");
    await waitForTimelineEvent(userA().client, room, fromGhost(CARL, "welcome back"));
    assert.equal(await countBodies(room, "while you were away"), 1);
    assert.equal(await running().handle.store.groups.count(), 1);
  });

  it("Bob leaving removes his address: a notice tells, and the next message leaves him out", async function () {
    await userB().client.leave(room);
    await waitForTimelineEvent(userA().client, room, noticeMatching(/bob@people\.test was removed/));
    assert.deepEqual(await currentSet(), sorted([ALICE_PEOPLE, CARL, DAN, JOE]));
    await send(userA(), room, "bob has gone");
    const m = await received(DAN, textIs("bob has gone"));
    assert.deepEqual(sorted(m.to), sorted([CARL, DAN, JOE]));
  });

  it("reactions both ways in the group", async function () {
    const c = userA().client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    await c.sendEvent(room, "m.reaction", {
      "m.relates_to": { rel_type: "m.annotation", event_id: okBobEvent, key: "👍" },
    });
    for (const address of [JOE, CARL, DAN]) {
      const r = await received(address, (x) => x.content.type === "reaction");
      assert.deepEqual(r.content, { type: "reaction", target: okBobMessage, key: "👍" });
      assert.deepEqual(sorted(r.to), sorted([CARL, DAN, JOE]));
    }
    const hello = started().person(JOE).rec.messages.find(textIs("bob has gone"))!;
    const helloEvent = await running().handle.store.messages.byMessage(ALICE_PEOPLE, hello.id);
    await client(DAN).send([ALICE_PEOPLE, CARL, JOE], { type: "reaction", target: hello.id, key: "🎉" });
    const e = await waitForTimelineEvent(
      userA().client,
      room,
      (x) => x.getType() === "m.reaction" && x.getSender() === ghostOf(DAN),
    );
    assert.deepEqual(content(e)["m.relates_to"], {
      rel_type: "m.annotation",
      event_id: helloEvent?.matrixEventId,
      key: "🎉",
    });
  });

  it("a failure between the Matrix send and the mapping: the redelivered group message appears once", async function () {
    crashAfterSend = "sent twice, shown once";
    const id = await client(JOE).sendText([ALICE_PEOPLE, CARL, DAN], "sent twice, shown once");
    await eventually("the mapping after the redelivery", () =>
      running().handle.store.messages.byMessage(JOE, id),
    );
    assert.equal(crashes, 1);
    assert.equal(await countBodies(room, "sent twice, shown once"), 1);
  });

  it("Alice invites a second ghost into her DM with Eve: the DM becomes a group of three", async function () {
    await client(EVE).sendText([ALICE_PEOPLE], "hi alice, eve here");
    const dm = await eventually("Eve's DM portal", () =>
      running().handle.store.portals.byPair(userA().userId, EVE),
    );
    const invite = await acceptInvite(userA(), dm.roomId);
    assert.equal(invite.is_direct, true);
    await waitForTimelineEvent(userA().client, dm.roomId, fromGhost(EVE, "hi alice, eve here"));
    await userA().client.invite(dm.roomId, ghostOf(ANN));
    await waitForTimelineEvent(userA().client, dm.roomId, noticeMatching(/added ann@other\.test/));
    assert.equal(await running().handle.store.portals.byRoom(dm.roomId), undefined);
    assert.deepEqual(await joined(dm.roomId), sorted([ghostOf(EVE), ghostOf(ANN), userA().userId]));
    await send(userA(), dm.roomId, "now we are three");
    for (const address of [EVE, ANN]) {
      const m = await received(address, textIs("now we are three"));
      assert.deepEqual(sorted(m.to), sorted([ANN, EVE]));
    }
    await client(ANN).sendText([ALICE_PEOPLE, EVE], "three indeed");
    await waitForTimelineEvent(userA().client, dm.roomId, fromGhost(ANN, "three indeed"));
    assert.equal(await countBodies(dm.roomId, "three indeed"), 1);
  });

  it("refuses a conversation with more People addresses than the cap, making no room", async function () {
    const before = await running().handle.store.groups.count();
    await client(EVE).sendText([ALICE_PEOPLE, JOE, ANN, CARL, DAN], "too many of us");
    await running().logs.waitFor(/a group conversation was refused/);
    assert.equal(await running().handle.store.groups.count(), before);
  });
});
