// The feature registry (src/bridge/core): every type the bridge can receive,
// from either side, has an owner and an explicit fate (bridged, answered with
// a notice, or ignored with a reason), and two features claiming one type
// stop the start. Then the flows follow those fates: a call and a
// whitespace-only message are answered, a poll is bridged as text; a People
// call offer and a whitespace-only People text are told once; a post notice is
// ignored without counting as a failure.
import assert from "node:assert/strict";
import { BRIDGE_FEATURES, bridgeRegistry } from "../../src/bridge/core/features/index.js";
import type { ClaimSide, Feature } from "../../src/bridge/core/features/feature.js";
import { isBridgeError } from "../../src/bridge/core/errors.js";
import { FeatureRegistry } from "../../src/bridge/core/router.js";
import type { RoomEvent } from "../../src/bridge/core/ports/matrix-side.js";
import { MatrixToPeopleFlow } from "../../src/bridge/portals/matrix-to-people-flow.js";
import { PeopleToMatrixFlow } from "../../src/bridge/portals/people-to-matrix-flow.js";
import { PEOPLE_TO_MATRIX } from "../../src/bridge/model/people-to-matrix.js";
import { PortalService } from "../../src/bridge/portals/portal-service.js";
import { Permissions } from "../../src/bridge/core/permissions.js";
import { contentSchema, type MessageContent } from "../../src/people/protocol/messages.js";
import {
  FakeGhosts,
  FakePeople,
  MemoryMessages,
  MemoryPortals,
  incoming,
  newMetrics,
  silentLog,
} from "../helpers/portal-fakes.js";

/** Every Matrix type the bridge can receive, by where it arrives. */
const MATRIX: Record<Exclude<ClaimSide, "people">, string[]> = {
  "matrix.room": [
    "m.room.message",
    "m.sticker",
    "m.reaction",
    "m.room.redaction",
    "m.room.encrypted",
    "m.room.member",
    "m.room.name",
    "m.room.topic",
    "m.room.avatar",
    "m.room.encryption",
    "m.room.power_levels",
    "m.room.create",
    "m.room.join_rules",
    "m.room.history_visibility",
    "m.room.guest_access",
    "m.room.canonical_alias",
    "m.room.pinned_events",
    "m.room.server_acl",
    "m.room.tombstone",
    "org.matrix.msc3381.poll.start",
    "org.matrix.msc3381.poll.response",
    "org.matrix.msc3381.poll.end",
    "m.poll.start",
    "m.poll.response",
    "m.poll.end",
    "m.call.invite",
    "m.call.candidates",
    "m.call.answer",
    "m.call.hangup",
    "m.call.select_answer",
    "m.call.reject",
    "m.call.negotiate",
    "org.matrix.msc3401.call.member",
    "m.rtc.notification",
    "org.matrix.msc4075.rtc.notification",
    "m.key.verification.ready",
    "m.key.verification.start",
    "m.key.verification.done",
    "m.key.verification.cancel",
  ],
  "matrix.msgtype": [
    "m.text",
    "m.notice",
    "m.emote",
    "m.image",
    "m.file",
    "m.audio",
    "m.video",
    "m.location",
    "m.key.verification.request",
  ],
  "matrix.ephemeral": ["m.receipt", "m.typing", "m.presence"],
  "matrix.to_device": [
    "m.room_key",
    "m.room.encrypted",
    "m.forwarded_room_key",
    "m.room_key_request",
    "m.room_key.withheld",
    "m.dummy",
    "m.secret.request",
    "m.secret.send",
    "m.key.verification.request",
    "m.key.verification.ready",
    "m.key.verification.start",
    "m.key.verification.accept",
    "m.key.verification.key",
    "m.key.verification.mac",
    "m.key.verification.done",
    "m.key.verification.cancel",
  ],
};

const PEOPLE_TYPES: string[] = contentSchema.options.map((o) => o.shape.type.value);

describe("feature registry", function () {
  const registry = bridgeRegistry();

  function assertExplicit(side: ClaimSide, type: string): void {
    const owned = registry.owner(side, type);
    assert.ok(owned, `${side} ${type} has no owner: give it a feature and a fate`);
    const fate = owned.fate;
    if (fate.kind === "notice") assert.ok(fate.text.trim().length > 10, `${type}: the notice says why`);
    if (fate.kind === "ignored") assert.ok(fate.reason.trim().length > 10, `${type}: the reason is written`);
  }

  it("gives every People content type of protocol/messages.ts an owner and a fate", function () {
    assert.ok(PEOPLE_TYPES.length >= 17, "the walk saw the protocol's types");
    for (const type of PEOPLE_TYPES) assertExplicit("people", type);
    // And claims no People type the protocol does not have.
    assert.deepEqual(
      registry.claimed("people").filter((t) => !PEOPLE_TYPES.includes(t)),
      [],
    );
  });

  for (const [side, types] of Object.entries(MATRIX) as [Exclude<ClaimSide, "people">, string[]][]) {
    it(`gives every ${side} type the bridge can receive an owner and a fate`, function () {
      for (const type of types) assertExplicit(side, type);
    });
  }

  it("answers encrypted events with a notice; bridges messages, media, locations, polls and calls", function () {
    const fate = (type: string, content: Record<string, unknown> = {}) =>
      registry.roomEventFate(type, content).kind;
    for (const type of [
      "org.matrix.msc3381.poll.start",
      "m.poll.start",
      "org.matrix.msc3381.poll.end",
      "m.poll.end",
    ])
      assert.equal(fate(type), "bridged", type);
    assert.equal(fate("m.poll.response"), "ignored");
    assert.equal(fate("org.matrix.msc3381.poll.response"), "ignored");
    // Calls are carried by the calls feature's own flow: a shared flow ignores them.
    assert.equal(registry.fate("matrix.room", "m.call.invite").kind, "bridged");
    assert.equal(registry.ownFlowOf("matrix.room", "m.call.invite"), "calls");
    assert.equal(fate("m.call.invite"), "ignored");
    assert.equal(fate("m.rtc.notification"), "notice");
    assert.equal(fate("m.room.encrypted"), "notice");
    for (const msgtype of [
      "m.text",
      "m.notice",
      "m.emote",
      "m.image",
      "m.file",
      "m.audio",
      "m.video",
      "m.location",
    ])
      assert.equal(fate("m.room.message", { msgtype }), "bridged", msgtype);
    // An unknown msgtype goes to the messages converter, which answers it.
    assert.equal(fate("m.room.message", { msgtype: "org.example.odd" }), "bridged");
    assert.equal(fate("org.example.unknown"), "ignored");
    assert.equal(registry.ownFlowOf("people", "rt_offer"), "calls");
    assert.equal(registry.sharedFlowFate("people", "rt_offer").kind, "ignored");
    // Post notices are carried by the feeds feature's own flow; a shared flow ignores them.
    assert.equal(registry.fate("people", "post_notice").kind, "bridged");
    assert.equal(registry.ownFlowOf("people", "post_notice"), "feeds");
    assert.equal(registry.sharedFlowFate("people", "post_notice").kind, "ignored");
    assert.equal(registry.ownFlowOf("people", "text"), undefined);
    assert.equal(registry.fate("people", "post_reaction").kind, "ignored");
  });

  it("has a People → Matrix converter for exactly the People types the features bridge", function () {
    const bridgedPeople = registry
      .claimed("people")
      .filter((t) => registry.fate("people", t).kind === "bridged" && !registry.ownFlowOf("people", t));
    assert.deepEqual(Object.keys(PEOPLE_TO_MATRIX).sort(), bridgedPeople.sort());
  });

  it("refuses two features that claim one type, naming both", function () {
    const rival: Feature = {
      name: "rival-polls",
      claims: [{ side: "matrix.room", type: "m.poll.start", fate: { kind: "notice", text: "no polls" } }],
    };
    assert.throws(
      () => bridgeRegistry([rival]),
      (err: unknown) =>
        isBridgeError(err, "feature_conflict") &&
        /features polls and rival-polls both claim matrix\.room m\.poll\.start/.test(err.message),
    );
    assert.throws(
      () => new FeatureRegistry([...BRIDGE_FEATURES, { name: "calls", claims: [] }]),
      /named calls/,
    );
  });
});

const ALICE = "@alice:hs.test";
const JOE = "joe@other.test";

function setup() {
  const ghosts = new FakeGhosts();
  const people = new FakePeople();
  const portals = new MemoryPortals();
  const messages = new MemoryMessages();
  const permissions = new Permissions({ "hs.test": "user" });
  const metrics = newMetrics();
  const service = new PortalService({ ghosts, portals, people, permissions, log: silentLog });
  const o = { ghosts, messages, log: silentLog, metrics };
  const toPeople = new MatrixToPeopleFlow({ ...o, people, permissions });
  const toMatrix = new PeopleToMatrixFlow({ ...o, portals: service });
  return { ghosts, people, portals, messages, metrics, toPeople, toMatrix };
}

let seq = 0;
const event = (type: string, content: Record<string, unknown>): RoomEvent => ({
  type,
  content,
  roomId: "!p:hs.test",
  sender: ALICE,
  eventId: `$r${++seq}`,
});

describe("the flows follow the fates", function () {
  it("leaves a call invite to the calls flow, answers a whitespace-only message with a notice, and bridges a poll as text", async function () {
    const s = setup();
    const portal = { roomId: "!p:hs.test", matrixUser: ALICE, peopleAddress: JOE, createdAt: 1 };
    await s.portals.put(portal);
    const poll = event("org.matrix.msc3381.poll.start", {
      "org.matrix.msc3381.poll.start": {
        question: { "org.matrix.msc1767.text": "Lunch?" },
        answers: [{ id: "y", "org.matrix.msc1767.text": "Yes" }],
      },
    });
    const call = event("m.call.invite", { call_id: "c1", version: "1", lifetime: 60000 });
    const blank = event("m.room.message", { msgtype: "m.text", body: " \n\t " });
    const hangup = event("m.call.hangup", { call_id: "c1", version: "1" });
    for (const e of [poll, call, blank, hangup]) await s.toPeople.handle(e, portal);
    const notices = s.ghosts.notices();
    assert.equal(notices.length, 1, notices.join(" | "));
    assert.match(notices[0]!, /Not delivered to joe@other.test: The message is empty/);
    const sent = (await s.people.accountFor(ALICE)).sent;
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0]!.content, {
      type: "text",
      body: "📊 Poll: Lunch?\n1. Yes\nReply to this message with the number or the text of your answer.",
    });
  });

  it("tells a whitespace-only People text once in the DM portal, as a Matrix one is told", async function () {
    const s = setup();
    const alice = await s.people.accountFor(ALICE);
    const m = incoming({ from: JOE, to: [alice.address], content: { type: "text", body: " \n\t " } });
    await s.toMatrix.handle(alice, m);
    await s.toMatrix.handle(alice, m);
    assert.deepEqual(s.ghosts.notices(), [
      "joe@other.test sent an empty message (only spaces): there is nothing to show.",
    ]);
    assert.ok(await s.messages.byMessage(JOE, m.id), "the notice is what the message maps to");
  });

  it("leaves People call signalling and post notices to their features' own flows", async function () {
    const s = setup();
    const alice = await s.people.accountFor(ALICE);
    const offer: MessageContent = {
      type: "rt_offer",
      session: "AAAAAAAAAAAAAAAAAAAAAA",
      media: "voice",
      sdp: "v=0\r\n",
      dtls_fingerprint: `sha-256 ${"AB:".repeat(31)}AB`,
    };
    assert.ok(contentSchema.safeParse(offer).success, "a valid rt_offer");
    const m = incoming({ from: JOE, to: [alice.address], content: offer });
    await s.toMatrix.handle(alice, m);
    await s.toMatrix.handle(alice, m);
    const hangup: MessageContent = { type: "rt_hangup", session: "AAAAAAAAAAAAAAAAAAAAAA", reason: "normal" };
    await s.toMatrix.handle(alice, incoming({ from: JOE, to: [alice.address], content: hangup }));
    const post: MessageContent = {
      type: "post_notice",
      author: JOE,
      group: "AAAAAAAAAAAAAAAAAAAAAA",
      post: "BBBBBBBBBBBBBBBBBBBBBA",
      epoch: 0,
    };
    assert.ok(contentSchema.safeParse(post).success, "a valid post_notice");
    await s.toMatrix.handle(alice, incoming({ from: JOE, to: [alice.address], content: post }));
    assert.deepEqual(s.ghosts.notices(), []);
    assert.equal(await s.messages.byMessage(JOE, m.id), undefined);
    const metrics = await s.metrics.registry.metrics();
    assert.match(metrics, /outcome="ignored"\} 4/);
    assert.doesNotMatch(metrics, /bridge_message_failures_total\{direction="to_matrix"/);
  });
});
