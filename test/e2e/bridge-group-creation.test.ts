// What a People message can make the bridge create, and what a member added
// later can read, against the real thing: a real Synapse, the bridge with its
// People server (people.test), a second People server (other.test) with Joe and
// Ann as PeopleClients, and Matrix users Alice and Bob on matrix-js-sdk.
// - Joe's crafted message naming Alice and 20 addresses on a domain that does not
//   exist (a People client refuses to seal to them; Joe's is patched to) makes no
//   ghost for them: it is shown in Alice's DM with Joe, with a notice naming them,
//   and sent again it makes nothing new.
// - Group rooms show a member history from their invite on: Bob, added by a later
//   People message, cannot read (/messages) what was sent before he was invited,
//   while Alice, invited when the room was made, reads the first message although
//   it was sent before she joined.
import assert from "node:assert/strict";
import type { MatrixEvent } from "matrix-js-sdk";
import { participantSet, setKey } from "../../src/bridge/model/participant-set.js";
import { parseAddress, type PeopleAddress } from "../../src/people/protocol/address.js";
import type { EnvelopeCopy } from "../../src/people/protocol/envelope.js";
import {
  eventually,
  roomMessages,
  waitForTimelineEvent,
  type MatrixUser,
  type TestBridge,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf } from "../helpers/bridge-world.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const BOB_PEOPLE = `bob@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const ANN = `ann@${OTHER}`;
/** `.invalid` never exists (RFC 2606): no .well-known, no SRV, no address. */
const NOWHERE = Array.from({ length: 20 }, (_, i) => `n${i}@nowhere.invalid`);

type Json = Record<string, unknown>;
const keyOf = (...addresses: string[]) => setKey(participantSet(addresses.map((a) => parseAddress(a))));

describe("room and ghost creation from People, and history for later members, on a real Synapse", function () {
  this.timeout(120_000);
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let bob: MatrixUser | undefined;

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const running = (): TestBridge => started().bridge;
  const userA = (): MatrixUser => alice ?? assert.fail("alice not logged in");
  const userB = (): MatrixUser => bob ?? assert.fail("bob not logged in");
  const client = (address: string) => started().person(address).client;

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user", "@bob:localhost": "user" },
    });
    for (const address of [JOE, ANN]) await world.startPeopleUser(address);
    alice = await world.startMatrixUser("alice");
    bob = await world.startMatrixUser("bob");
    await running().handle.accounts.accountFor(alice.userId);
    await running().handle.accounts.accountFor(bob.userId);
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  const content = (e: MatrixEvent): Json => e.getContent() as Json;
  const fromGhost = (address: string, body: string) => (e: MatrixEvent) =>
    e.getSender() === ghostOf(address) && content(e).body === body;
  const noticeMatching = (pattern: RegExp) => (e: MatrixEvent) =>
    e.getSender() === ghostOf(JOE) &&
    content(e).msgtype === "m.notice" &&
    pattern.test(String(content(e).body));

  async function acceptInvite(user: MatrixUser, roomId: string): Promise<void> {
    await eventually(`the invite to reach ${user.userId}`, () =>
      user.client.getRoom(roomId)?.getMember(user.userId)?.membership === "invite" ? true : undefined,
    );
    await user.client.joinRoom(roomId);
    await waitForTimelineEvent(
      user.client,
      roomId,
      (e) => e.getType() === "m.room.member" && e.getStateKey() === user.userId,
    );
  }

  /** Whether the homeserver has the user registered: it refuses the appservice to act as one it has not. */
  async function registered(userId: string): Promise<boolean> {
    const hs = started().hs;
    const res = await fetch(
      `${hs.url}/_matrix/client/v3/account/whoami?user_id=${encodeURIComponent(userId)}`,
      {
        headers: { authorization: `Bearer ${started().registration.as_token}` },
      },
    );
    const body = (await res.json()) as Json;
    if (res.status === 200) return true;
    assert.equal(res.status, 403, JSON.stringify(body));
    assert.match(String(body.error), /not registered this user/);
    return false;
  }

  /** Joe's client names addresses that do not resolve in `to`, as a crafted sender would, sending copies to the others only. */
  function letJoeSealToAnyone(): void {
    const messenger = (
      client(JOE) as unknown as {
        messenger: {
          copyFor(address: PeopleAddress, except?: string): Promise<EnvelopeCopy | undefined>;
          o: { store: { enqueue(rows: { address: string }[]): Promise<void> } };
        };
      }
    ).messenger;
    const store = messenger.o.store;
    const enqueue = store.enqueue.bind(store);
    store.enqueue = (rows) => enqueue(rows.filter((r) => !r.address.endsWith("@nowhere.invalid")));
    const original = messenger.copyFor.bind(messenger);
    messenger.copyFor = async (address, except) => {
      if (!address.endsWith("@nowhere.invalid")) return original(address, except);
      const alice = await original(parseAddress(ALICE_PEOPLE));
      return alice && { ...alice, address };
    };
  }

  it("Joe names Alice and 20 addresses on a domain that does not exist: no ghost for them, the message in Alice's DM with a notice", async function () {
    letJoeSealToAnyone();
    assert.equal(await registered(ghostOf(NOWHERE[0]!)), false);
    const start = Date.now();
    const sent = await client(JOE).sendText([ALICE_PEOPLE, ...NOWHERE], "twenty strangers");
    await eventually(
      "the message bridged",
      () => running().handle.store.messages.byMessage(JOE, sent),
      60_000,
    );
    console.log(
      `      measured: Joe's message naming 20 unresolvable addresses bridged in ${Date.now() - start} ms`,
    );
    // The 20 lookups may take up to their deadline (10 s) where DNS is slow.
    const portal = await eventually(
      "Alice's DM with Joe",
      () => running().handle.store.portals.byPair(userA().userId, JOE),
      60_000,
    );
    await acceptInvite(userA(), portal.roomId);
    const message = await waitForTimelineEvent(
      userA().client,
      portal.roomId,
      fromGhost(JOE, "twenty strangers"),
    );
    assert.equal(
      (await running().handle.store.messages.byMessage(JOE, sent))?.matrixEventId,
      message.getId(),
    );
    const notice = await waitForTimelineEvent(
      userA().client,
      portal.roomId,
      noticeMatching(
        /^joe@other\.test also wrote this to n0@nowhere\.invalid, .* and 10 more \(their domain has no People server\)\. Answers here go to joe@other\.test only\.$/,
      ),
    );
    assert.ok(notice.getTs() <= message.getTs(), "the notice comes before the message");
    assert.equal(await running().handle.store.groups.count(), 0);
    // Sent again (a new message): the same DM, still no room and no ghost for them.
    await client(JOE).sendText([ALICE_PEOPLE, ...NOWHERE], "twenty strangers again");
    await waitForTimelineEvent(
      userA().client,
      portal.roomId,
      fromGhost(JOE, "twenty strangers again"),
      60_000,
    );
    assert.equal(await running().handle.store.groups.count(), 0);
    assert.equal((await running().handle.store.portals.byPair(userA().userId, JOE))?.roomId, portal.roomId);
    assert.equal(await registered(ghostOf(JOE)), true);
    for (const address of NOWHERE) assert.equal(await registered(ghostOf(address)), false, address);
    const members = userA()
      .client.getRoom(portal.roomId)!
      .getJoinedMembers()
      .map((m) => m.userId);
    assert.deepEqual(members.sort(), [ghostOf(JOE), userA().userId].sort());
  });

  it("a group room shows a member what was sent from their invite on: Bob, added later, cannot read the earlier messages", async function () {
    const first = await client(JOE).sendText([ALICE_PEOPLE, ANN], "before bob");
    const group = await eventually("the group portal", () =>
      running().handle.store.groups.bySetKey(keyOf(JOE, ANN, ALICE_PEOPLE)),
    );
    const room = group.roomId;
    // Alice joins after the first message was sent: she was invited before it, so she reads it.
    await eventually("the first message in Matrix", () =>
      running().handle.store.messages.byMessage(JOE, first),
    );
    await acceptInvite(userA(), room);
    await waitForTimelineEvent(userA().client, room, fromGhost(JOE, "before bob"));
    const visibility = userA()
      .client.getRoom(room)!
      .currentState.getStateEvents("m.room.history_visibility", "");
    assert.equal(visibility?.getContent().history_visibility, "invited");
    // Joe adds Bob by answering everyone and Bob; what he says after reaches Bob.
    await client(JOE).send([ALICE_PEOPLE, ANN, BOB_PEOPLE], {
      type: "text",
      body: "bob is in",
      reply_to: first,
    });
    await acceptInvite(userB(), room);
    await waitForTimelineEvent(userB().client, room, fromGhost(JOE, "bob is in"));
    await client(ANN).sendText([ALICE_PEOPLE, BOB_PEOPLE, JOE], "hello bob");
    await waitForTimelineEvent(userB().client, room, fromGhost(ANN, "hello bob"));
    // Read through /messages as each of them.
    const bodies = async (user: MatrixUser) =>
      (await roomMessages(started().hs, user.accessToken, room, 100))
        .map((e) => (e.content as Json | undefined)?.body)
        .filter((b): b is string => typeof b === "string");
    const bobSees = await bodies(userB());
    assert.ok(bobSees.includes("bob is in") && bobSees.includes("hello bob"), JSON.stringify(bobSees));
    assert.ok(!bobSees.includes("before bob"), "Bob reads nothing from before his invite");
    const aliceSees = await bodies(userA());
    assert.ok(aliceSees.includes("before bob") && aliceSees.includes("hello bob"), JSON.stringify(aliceSees));
  });
});
