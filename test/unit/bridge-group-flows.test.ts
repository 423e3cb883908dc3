// Group portals' decisions, without IO: which room a People message of
// several participants goes to (made once, however many bridged accounts
// receive it), how membership changes either way, what is refused and that a
// refusal writes nothing. The real GroupService and flows over in-memory fakes.
import assert from "node:assert/strict";
import type { RoomEvent } from "../../src/bridge/core/ports/matrix-side.js";
import { participantSet, setKey } from "../../src/bridge/model/participant-set.js";
import {
  BRIDGED_GHOST_TEXT,
  GroupMembership,
  NOT_PARTICIPANT_TEXT,
} from "../../src/bridge/portals/group-membership.js";
import { GroupService } from "../../src/bridge/portals/group-service.js";
import { MatrixToPeopleFlow } from "../../src/bridge/portals/matrix-to-people-flow.js";
import { PeopleToMatrixFlow } from "../../src/bridge/portals/people-to-matrix-flow.js";
import { PortalEvents } from "../../src/bridge/portals/portal-events.js";
import { PortalService } from "../../src/bridge/portals/portal-service.js";
import { Permissions } from "../../src/bridge/core/permissions.js";
import { parseAddress } from "../../src/people/protocol/address.js";
import { CreationLimiter } from "../../src/bridge/portals/creation-limiter.js";
import { unresolvable } from "../../src/bridge/portals/group-admission.js";
import type { CreationLimits } from "../../src/bridge/model/creation-limits.js";
import {
  FakeGhosts,
  FakePeople,
  MemoryCreations,
  MemoryGroups,
  MemoryMessages,
  MemoryPortals,
  incoming,
  newMetrics,
  silentLog,
} from "../helpers/portal-fakes.js";

const ALICE = "@alice:hs.test";
const BOB = "@bob:hs.test";
const ALICE_P = "alice@people.test";
const BOB_P = "bob@people.test";
const JOE = "joe@other.test";
const ANN = "ann@other.test";
const DAN = "dan@other.test";
const ghost = (a: string) => `@_people_${a.replace("@", "=40")}:hs.test`;
const keyOf = (...xs: string[]) => setKey(participantSet(xs.map((x) => parseAddress(x))));

function setup(maxGhosts = 4, o: { limits?: CreationLimits; now?: () => number } = {}) {
  const ghosts = new FakeGhosts();
  const people = new FakePeople();
  const portals = new MemoryPortals();
  const messages = new MemoryMessages();
  const groups = new MemoryGroups(messages);
  const creations = new MemoryCreations();
  const permissions = new Permissions({ "hs.test": "user" });
  const metrics = newMetrics();
  const limits = o.limits
    ? { limits: new CreationLimiter({ store: creations, limits: o.limits, log: silentLog, ...o }) }
    : {};
  const service = new PortalService({ ghosts, portals, people, permissions, log: silentLog, ...limits });
  const groupOptions = {
    ghosts,
    groups,
    portals,
    people,
    permissions,
    log: silentLog,
    maxGhosts,
    dms: service,
    ...limits,
  };
  const groupService = new GroupService(groupOptions);
  const membership = new GroupMembership({ ...groupOptions, service: groupService });
  const toPeople = new MatrixToPeopleFlow({ ghosts, people, messages, permissions, log: silentLog, metrics });
  const toMatrix = new PeopleToMatrixFlow({
    ghosts,
    portals: service,
    groups: groupService,
    messages,
    log: silentLog,
    metrics,
  });
  const events = new PortalEvents({ service, toPeople, groups: groupService, membership });
  return { ghosts, people, portals, messages, groups, creations, toMatrix, events };
}

let seq = 0;
function event(o: Partial<RoomEvent> & { content: Record<string, unknown> }): RoomEvent {
  return { type: "m.room.message", roomId: "!x:hs.test", sender: ALICE, eventId: `$g${++seq}`, ...o };
}
const member = (roomId: string, sender: string, target: string, membership: string) =>
  event({ type: "m.room.member", roomId, sender, stateKey: target, content: { membership } });

async function groupOf(s: ReturnType<typeof setup>) {
  const alice = await s.people.accountFor(ALICE);
  await s.toMatrix.handle(
    alice,
    incoming({ from: JOE, to: [ALICE_P, ANN], content: { type: "text", body: "hi" } }),
  );
  return s.groups.rows[0]!.roomId;
}

describe("group portals (no IO)", function () {
  describe("People → Matrix", function () {
    it("makes one room for a conversation of three, the sender's ghost inviting the others", async function () {
      const s = setup();
      const roomId = await groupOf(s);
      assert.deepEqual(s.ghosts.groupRooms, [
        { roomId, ghost: ghost(JOE), name: `${ANN}, ${JOE}`, invite: [ghost(ANN), ALICE], admins: [ALICE] },
      ]);
      assert.deepEqual(
        s.ghosts.joined.map((j) => j.ghost),
        [ghost(ANN)],
      );
      assert.equal((await s.groups.bySetKey(keyOf(JOE, ANN, ALICE_P)))?.roomId, roomId);
      assert.deepEqual(
        s.ghosts.sent.map((e) => [e.ghost, e.roomId, e.content.body]),
        [[ghost(JOE), roomId, "hi"]],
      );
      assert.equal(s.portals.rows.length, 0);
    });

    it("bridges a message once although every bridged account in it receives a copy", async function () {
      const s = setup();
      const [alice, bob] = [await s.people.accountFor(ALICE), await s.people.accountFor(BOB)];
      const m = incoming({ from: JOE, to: [ALICE_P, BOB_P, ANN], content: { type: "text", body: "to all" } });
      await Promise.all([s.toMatrix.handle(alice, m), s.toMatrix.handle(bob, m)]);
      await s.toMatrix.handle(bob, m); // and redelivered
      assert.equal(s.groups.rows.length, 1);
      assert.equal(s.ghosts.groupRooms.length, 1);
      assert.deepEqual(s.ghosts.groupRooms[0]!.invite.sort(), [ghost(ANN), ALICE, BOB].sort());
      assert.equal(s.ghosts.sent.filter((e) => e.content.body === "to all").length, 1);
    });

    it("does not bring a bridged user's own group message back into the room", async function () {
      const s = setup();
      const roomId = await groupOf(s);
      const alice = await s.people.accountFor(ALICE);
      await s.people.accountFor(BOB);
      await s.toMatrix.handle(alice, incoming({ from: BOB_P, to: [ALICE_P, JOE, ANN] }));
      assert.equal(s.ghosts.sent.length, 1);
      assert.equal(s.groups.rows.length, 1);
      assert.equal(s.groups.rows[0]!.roomId, roomId);
    });

    it("refuses a conversation past the cap, or of 1024 addresses, writing nothing", async function () {
      for (const to of [
        [ALICE_P, JOE, ANN, DAN, "eve@other.test", "fay@other.test"],
        [ALICE_P, ...Array.from({ length: 1023 }, (_, i) => `u${i}@other.test`)],
      ]) {
        const s = setup();
        const alice = await s.people.accountFor(ALICE);
        await s.toMatrix.handle(alice, incoming({ from: JOE, to }));
        assert.deepEqual(
          [s.groups.rows, s.ghosts.groupRooms, s.ghosts.sent, s.messages.rows],
          [[], [], [], []],
        );
      }
    });

    it("leaves out addresses that do not resolve: the room has the others, and a notice names them", async function () {
      const s = setup();
      const alice = await s.people.accountFor(ALICE);
      alice.lookups["nobody@other.test"] = "unknown";
      alice.lookups["x@nowhere.test"] = "unreachable";
      await s.toMatrix.handle(
        alice,
        incoming({
          from: JOE,
          to: [ALICE_P, ANN, "nobody@other.test", "x@nowhere.test"],
          content: { type: "text", body: "hi" },
        }),
      );
      assert.equal(s.groups.rows.length, 1);
      const roomId = s.groups.rows[0]!.roomId;
      assert.deepEqual(
        (await s.groups.byRoom(roomId))!.members.map((m) => m.address),
        [ALICE_P, ANN, JOE],
      );
      assert.deepEqual(s.ghosts.groupRooms[0]!.invite, [ghost(ANN), ALICE]);
      assert.deepEqual(
        s.ghosts.sent.map((e) => [e.ghost, e.roomId, e.content.body]),
        [
          [
            ghost(JOE),
            roomId,
            "joe@other.test also wrote this to nobody@other.test (no People account), x@nowhere.test " +
              "(their People server cannot be reached). They are not in this conversation.",
          ],
          [ghost(JOE), roomId, "hi"],
        ],
      );
      // The next message of the same conversation finds the same room; a repeat sends nothing twice.
      const again = incoming({ from: JOE, to: [ALICE_P, ANN, "nobody@other.test", "x@nowhere.test"] });
      await s.toMatrix.handle(alice, again);
      await s.toMatrix.handle(alice, again);
      assert.equal(s.groups.rows.length, 1);
      assert.equal(s.ghosts.sent.length, 4);
      // A reply may not add one either; once it resolves, a reply adds it.
      const first = s.messages.rows[0]!.peopleMessageId;
      const reply = (body: string) =>
        incoming({
          from: JOE,
          to: [ALICE_P, ANN, "nobody@other.test"],
          content: { type: "text", body, reply_to: first },
        });
      await s.toMatrix.handle(alice, reply("x"));
      assert.equal((await s.groups.byRoom(roomId))!.members.length, 3);
      assert.match(s.ghosts.notices().at(-1)!, /nobody@other\.test \(no People account\)/);
      assert.equal(s.ghosts.sent.at(-1)!.content.body, "x");
      alice.lookups["nobody@other.test"] = "exists";
      await s.toMatrix.handle(alice, reply("y"));
      assert.equal((await s.groups.byRoom(roomId))!.members.length, 4);
      assert.match(s.ghosts.notices().at(-1)!, /added nobody@other\.test/);
    });

    it("a conversation of Alice and twenty addresses that do not resolve is her DM with the sender: no ghost for them", async function () {
      const s = setup(64);
      const alice = await s.people.accountFor(ALICE);
      const nowhere = Array.from({ length: 20 }, (_, i) => `u${i}@nowhere.test`);
      for (const a of nowhere) alice.lookups[a] = "unreachable";
      await s.toMatrix.handle(
        alice,
        incoming({ from: JOE, to: [ALICE_P, ...nowhere], content: { type: "text", body: "spam" } }),
      );
      assert.deepEqual([s.groups.rows, s.ghosts.groupRooms, s.ghosts.invites], [[], [], []]);
      assert.deepEqual(
        s.ghosts.joined.map((j) => j.ghost),
        [ghost(JOE)],
      );
      assert.deepEqual(
        s.ghosts.rooms.map((r) => [r.ghost, r.invitee]),
        [[ghost(JOE), ALICE]],
      );
      const dm = s.ghosts.rooms[0]!.roomId;
      assert.deepEqual(
        s.ghosts.sent.map((e) => [e.roomId, e.content.msgtype]),
        [
          [dm, "m.notice"],
          [dm, "m.text"],
        ],
      );
      assert.match(
        s.ghosts.notices()[0]!,
        /^joe@other\.test also wrote this to u0@nowhere\.test, u10@nowhere\.test, .*u18@nowhere\.test and 10 more \(their People server cannot be reached\)\. Answers here go to joe@other\.test only\.$/,
      );
    });

    it("a slow lookup holds up its own message only: another conversation gets its room meanwhile", async function () {
      const s = setup();
      const alice = await s.people.accountFor(ALICE);
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const lookup = alice.lookup.bind(alice);
      alice.lookup = async (address) => {
        if (address === "slow@far.test") await held;
        return lookup(address);
      };
      const slow = s.toMatrix.handle(
        alice,
        incoming({ from: JOE, to: [ALICE_P, ANN, "slow@far.test"], content: { type: "text", body: "slow" } }),
      );
      await s.toMatrix.handle(
        alice,
        incoming({ from: DAN, to: [ALICE_P, "eve@other.test"], content: { type: "text", body: "quick" } }),
      );
      assert.deepEqual(
        s.ghosts.sent.map((e) => e.content.body),
        ["quick"],
      );
      release();
      await slow;
      assert.deepEqual(
        s.ghosts.sent.map((e) => e.content.body),
        ["quick", "slow"],
      );
      assert.equal(s.groups.rows.length, 2);
    });

    it("an address not answered for by the deadline is left out as unreachable", async function () {
      const alice = await new FakePeople().accountFor(ALICE);
      alice.lookup = (address) =>
        address === "never@far.test" ? new Promise(() => undefined) : Promise.resolve({ status: "exists" });
      const leftOut = await unresolvable(alice, [parseAddress(ANN), parseAddress("never@far.test")], 50);
      assert.deepEqual([...leftOut], [["never@far.test", "unreachable"]]);
    });

    it("looks up one address of a domain whose server cannot be reached, not all of them", async function () {
      const alice = await new FakePeople().accountFor(ALICE);
      const asked: string[] = [];
      const lookup = alice.lookup.bind(alice);
      alice.lookup = (address) => {
        asked.push(address);
        return lookup(address);
      };
      const nowhere = Array.from({ length: 20 }, (_, i) => parseAddress(`n${i}@nowhere.test`));
      for (const a of nowhere) alice.lookups[a] = "unreachable";
      alice.lookups["nobody@other.test"] = "unknown";
      const others = [ANN, "nobody@other.test", DAN].map((a) => parseAddress(a));
      const leftOut = await unresolvable(alice, [...others, ...nowhere]);
      assert.deepEqual(asked.sort(), [ANN, DAN, "n0@nowhere.test", "nobody@other.test"].sort());
      assert.deepEqual(
        [...leftOut],
        [["nobody@other.test", "unknown"], ...nowhere.map((a) => [a, "unreachable"])],
      );
    });

    it("limits the rooms and ghosts one sender makes per hour: past them a group message goes to the DM, a new DM is refused", async function () {
      let now = 1_000_000;
      const s = setup(64, { limits: { roomsPerHour: 3, ghostsPerHour: 4 }, now: () => now });
      const alice = await s.people.accountFor(ALICE);
      const group = (n: number, body: string) =>
        incoming({
          from: JOE,
          to: [ALICE_P, ...Array.from({ length: n }, (_, i) => `g${body}${i}@other.test`)],
          content: { type: "text", body },
        });
      await s.toMatrix.handle(alice, group(2, "a")); // a room, 2 ghosts
      await s.toMatrix.handle(alice, group(3, "b")); // 2 + 3 ghosts > 4: the DM (a room) instead
      assert.equal(s.ghosts.groupRooms.length, 1);
      assert.equal(s.ghosts.rooms.length, 1);
      const dm = s.ghosts.rooms[0]!.roomId;
      assert.equal(s.ghosts.sent.at(-1)!.roomId, dm);
      assert.equal(s.ghosts.sent.at(-1)!.content.body, "b");
      assert.match(
        s.ghosts.notices().at(-1)!,
        /The bridge makes no more group rooms for joe@other\.test this hour/,
      );
      await s.toMatrix.handle(alice, group(2, "c")); // 4 ghosts: fits, the third room
      assert.equal(s.ghosts.groupRooms.length, 2);
      await s.toMatrix.handle(alice, group(1, "e")); // rooms 3 of 3 used: the DM
      assert.equal(s.ghosts.groupRooms.length, 2);
      assert.equal(s.ghosts.sent.at(-1)!.roomId, dm);
      // Another user's first mail from Joe would open a fourth room: refused, logged, nothing written.
      const bob = await s.people.accountFor(BOB);
      const rows = s.messages.rows.length;
      await s.toMatrix.handle(
        bob,
        incoming({ from: JOE, to: [BOB_P], content: { type: "text", body: "hi bob" } }),
      );
      assert.equal(s.ghosts.rooms.length, 1);
      assert.equal(s.messages.rows.length, rows);
      // Other senders have their own budget; and an hour later Joe has his again.
      await s.toMatrix.handle(
        bob,
        incoming({ from: ANN, to: [BOB_P], content: { type: "text", body: "from ann" } }),
      );
      assert.equal(s.ghosts.rooms.length, 2);
      now += 60 * 60 * 1000 + 1;
      await s.toMatrix.handle(
        bob,
        incoming({ from: JOE, to: [BOB_P], content: { type: "text", body: "hi bob" } }),
      );
      assert.equal(s.ghosts.rooms.length, 3);
      assert.equal(s.ghosts.sent.at(-1)!.content.body, "hi bob");
    });

    it("a member's reply with another set changes the room: ghosts join and leave, a notice tells", async function () {
      const s = setup();
      const roomId = await groupOf(s);
      const first = s.messages.rows[0]!.peopleMessageId;
      const alice = await s.people.accountFor(ALICE);
      await s.toMatrix.handle(
        alice,
        incoming({ from: JOE, to: [ALICE_P, DAN], content: { type: "text", body: "swap", reply_to: first } }),
      );
      assert.equal(s.groups.rows.length, 1);
      assert.deepEqual(
        (await s.groups.byRoom(roomId))!.members.map((m) => m.address),
        [ALICE_P, DAN, JOE],
      );
      assert.ok(s.ghosts.joined.some((j) => j.ghost === ghost(DAN) && j.roomId === roomId));
      assert.ok(s.ghosts.left.some((l) => l.ghost === ghost(ANN) && l.roomId === roomId));
      assert.match(
        s.ghosts.notices().join("\n"),
        /joe@other\.test added dan@other\.test and left out ann@other\.test/,
      );
      assert.ok(s.ghosts.sent.some((e) => e.content.body === "swap" && e.roomId === roomId));
    });

    it("an outsider's reply with another set is its own conversation, the room unchanged", async function () {
      const s = setup();
      const roomId = await groupOf(s);
      const first = s.messages.rows[0]!.peopleMessageId;
      const alice = await s.people.accountFor(ALICE);
      await s.toMatrix.handle(
        alice,
        incoming({
          from: DAN,
          to: [ALICE_P, ANN],
          content: { type: "text", body: "me too", reply_to: first },
        }),
      );
      assert.equal(s.groups.rows.length, 2);
      assert.deepEqual(
        (await s.groups.byRoom(roomId))!.members.map((m) => m.address),
        [ALICE_P, ANN, JOE],
      );
    });
  });

  describe("Matrix → People", function () {
    it("sends a member's message once to every other participant", async function () {
      const s = setup();
      const roomId = await groupOf(s);
      await s.events.handle(event({ roomId, content: { msgtype: "m.text", body: "hello all" } }));
      const alice = await s.people.accountFor(ALICE);
      assert.deepEqual(
        alice.sent.map((m) => [...m.to].sort()),
        [[ANN, JOE]],
      );
      // A Matrix user who is not a participant speaks for no one, and is told so.
      const intruder = event({ roomId, sender: BOB, content: { msgtype: "m.text", body: "intruder" } });
      await s.events.handle(intruder);
      assert.equal((await s.people.accountFor(BOB)).sent.length, 0);
      const told = s.ghosts.sent.at(-1)!;
      assert.equal(told.content.body, NOT_PARTICIPANT_TEXT);
      assert.deepEqual(told.content["m.relates_to"], { "m.in_reply_to": { event_id: intruder.eventId } });
    });

    it("an invited ghost is added (told by a notice); an unknown address or one past the cap is declined", async function () {
      const s = setup(3);
      const roomId = await groupOf(s);
      (await s.people.accountFor(ALICE)).lookups["nobody@other.test"] = "unknown";
      await s.events.handle(member(roomId, ALICE, ghost("nobody@other.test"), "invite"));
      await s.events.handle(member(roomId, ALICE, ghost(DAN), "invite"));
      assert.deepEqual(
        (await s.groups.byRoom(roomId))!.members.map((m) => m.address),
        [ALICE_P, ANN, DAN, JOE],
      );
      assert.match(s.ghosts.notices().at(-1)!, /added dan@other\.test/);
      await s.events.handle(member(roomId, ALICE, ghost("eve@other.test"), "invite"));
      await s.people.accountFor(BOB);
      await s.events.handle(member(roomId, ALICE, ghost(BOB_P), "invite"));
      assert.equal((await s.groups.byRoom(roomId))!.members.length, 4);
      assert.deepEqual(
        s.ghosts.left.map((l) => [l.ghost, l.reason]),
        [
          [ghost("nobody@other.test"), "nobody@other.test has no People account."],
          [ghost("eve@other.test"), "A group room bridges at most 3 People addresses."],
          [ghost(BOB_P), BRIDGED_GHOST_TEXT],
        ],
      );
    });

    it("a kicked ghost is removed; when the last ghost goes, the portal ends", async function () {
      const s = setup();
      const roomId = await groupOf(s);
      await s.events.handle(member(roomId, ALICE, ghost(ANN), "leave"));
      assert.deepEqual(
        (await s.groups.byRoom(roomId))!.members.map((m) => m.address),
        [ALICE_P, JOE],
      );
      assert.match(s.ghosts.notices().at(-1)!, /ann@other\.test was removed/);
      await s.events.handle(member(roomId, ALICE, ghost(JOE), "leave"));
      assert.equal(await s.groups.byRoom(roomId), undefined);
    });

    it("when the only bridged Matrix user leaves, the portal ends and its ghosts leave", async function () {
      const s = setup();
      const roomId = await groupOf(s);
      await s.events.handle(member(roomId, ALICE, ALICE, "leave"));
      assert.equal(await s.groups.byRoom(roomId), undefined);
      assert.deepEqual(s.ghosts.left.map((l) => l.ghost).sort(), [ghost(ANN), ghost(JOE)].sort());
    });

    it("a second bridged user joining is added; a People reply leaving them out tells and removes them", async function () {
      const s = setup();
      const roomId = await groupOf(s);
      await s.events.handle(member(roomId, BOB, BOB, "join"));
      const group = (await s.groups.byRoom(roomId))!;
      assert.deepEqual(
        group.members.find((m) => m.address === BOB_P),
        { address: BOB_P, matrixUser: BOB },
      );
      const first = s.messages.rows[0]!.peopleMessageId;
      const alice = await s.people.accountFor(ALICE);
      await s.toMatrix.handle(
        alice,
        incoming({
          from: JOE,
          to: [ALICE_P, ANN],
          content: { type: "text", body: "not bob", reply_to: first },
        }),
      );
      assert.deepEqual(
        (await s.groups.byRoom(roomId))!.members.map((m) => m.address),
        [ALICE_P, ANN, JOE],
      );
      assert.match(s.ghosts.notices().join("\n"), /left out bob@people\.test/);
      // Bob is told by name, after the change is recorded, and removed from the room by Joe's ghost.
      assert.match(
        s.ghosts.notices().join("\n"),
        /@bob:hs\.test: joe@other\.test answered this People conversation without you/,
      );
      assert.deepEqual(
        s.ghosts.kicked.map((k) => [k.ghost, k.userId]),
        [[ghost(JOE), BOB]],
      );
      await s.events.handle(
        event({ roomId, sender: BOB, content: { msgtype: "m.text", body: "still here" } }),
      );
      assert.equal((await s.people.accountFor(BOB)).sent.length, 0);
      assert.equal(s.ghosts.notices().at(-1), NOT_PARTICIPANT_TEXT);
    });

    it("the ghosts' own membership events change nothing (the bridge did them)", async function () {
      const s = setup();
      const roomId = await groupOf(s);
      await s.events.handle(member(roomId, ghost(ANN), ghost(ANN), "leave"));
      assert.equal((await s.groups.byRoom(roomId))!.members.length, 3);
    });

    it("a ghost invited into a DM portal turns it into a group of three", async function () {
      const s = setup();
      await s.portals.put({ roomId: "!dm:hs.test", matrixUser: ALICE, peopleAddress: JOE, createdAt: 1 });
      await s.events.handle(member("!dm:hs.test", ALICE, ghost(ANN), "invite"));
      assert.equal(await s.portals.byRoom("!dm:hs.test"), undefined);
      assert.deepEqual((await s.groups.byRoom("!dm:hs.test"))!.members, [
        { address: ALICE_P, matrixUser: ALICE },
        { address: ANN },
        { address: JOE },
      ]);
      await s.events.handle(
        event({ roomId: "!dm:hs.test", content: { msgtype: "m.text", body: "three now" } }),
      );
      assert.deepEqual([...(await s.people.accountFor(ALICE)).sent[0]!.to].sort(), [ANN, JOE]);
    });
  });
});
