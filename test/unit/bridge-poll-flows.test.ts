// Polls through the flows, with fakes for both sides (unit: no IO): the
// poll's text goes to People and is mapped; a People reply naming an option
// becomes the ghost's vote, once; a homeserver that cannot be read makes the
// reply wait and be tried again (not turn into a plain reply); the end sends
// the results counted from the votes the homeserver relates to the poll; and
// without the adapter's reads polls still travel as plain texts.
import assert from "node:assert/strict";
import type { RoomEvent } from "../../src/bridge/core/ports/matrix-side.js";
import type { MatrixEventId, MatrixUserId } from "../../src/bridge/model/matrix-ids.js";
import type { RawRoomEvent } from "../../src/bridge/model/polls.js";
import { Permissions } from "../../src/bridge/core/permissions.js";
import { MatrixToPeopleFlow } from "../../src/bridge/portals/matrix-to-people-flow.js";
import { PeopleToMatrixFlow } from "../../src/bridge/portals/people-to-matrix-flow.js";
import { PortalService } from "../../src/bridge/portals/portal-service.js";
import type { MessageId } from "../../src/people/protocol/ids.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import {
  FakeGhosts,
  FakePeople,
  MemoryMessages,
  MemoryPortals,
  incoming,
  newMetrics,
  silentLog,
} from "../helpers/portal-fakes.js";

const ALICE = "@alice:hs.test";
const JOE = "joe@other.test";

/** A homeserver that can also be read: events by id, and the events referencing one. */
class ReadableGhosts extends FakeGhosts {
  readonly events = new Map<string, RawRoomEvent>();
  readonly refs = new Map<string, RawRoomEvent[]>();
  failReads: Error | undefined;
  reads = 0;
  async roomEvent(_g: MatrixUserId, _r: string, eventId: MatrixEventId) {
    this.reads++;
    if (this.failReads) throw this.failReads;
    return this.events.get(eventId);
  }
  async references(_g: MatrixUserId, _r: string, eventId: MatrixEventId) {
    if (this.failReads) throw this.failReads;
    return this.refs.get(eventId) ?? [];
  }
}

const POLL = {
  "org.matrix.msc3381.poll.start": {
    kind: "org.matrix.msc3381.poll.disclosed",
    max_selections: 1,
    question: { "org.matrix.msc1767.text": "Lunch?" },
    answers: [
      { id: "pizza", "org.matrix.msc1767.text": "Pizza" },
      { id: "soup", "org.matrix.msc1767.text": "Soup" },
    ],
  },
};
const vote = (sender: string, answer: string, ts: number): RawRoomEvent => ({
  type: "org.matrix.msc3381.poll.response",
  sender,
  content: {
    "org.matrix.msc3381.poll.response": { answers: [answer] },
    "m.relates_to": { rel_type: "m.reference", event_id: "$poll" },
  },
  originServerTs: ts,
});

async function setup(ghosts: FakeGhosts = new ReadableGhosts()) {
  const people = new FakePeople();
  const portals = new MemoryPortals();
  const messages = new MemoryMessages();
  const permissions = new Permissions({ "hs.test": "user" });
  const o = { ghosts, messages, log: silentLog, metrics: newMetrics() };
  const service = new PortalService({ ghosts, portals, people, permissions, log: silentLog });
  const toPeople = new MatrixToPeopleFlow({ ...o, people, permissions });
  const toMatrix = new PeopleToMatrixFlow({ ...o, portals: service });
  const portal = { roomId: "!p:hs.test", matrixUser: ALICE, peopleAddress: JOE, createdAt: 1 };
  await portals.put(portal);
  const alice = await people.accountFor(ALICE);
  const roomEvent = (
    type: string,
    content: Record<string, unknown>,
    eventId: string,
    ts = 100,
  ): RoomEvent => ({
    type,
    content,
    roomId: portal.roomId,
    sender: ALICE,
    eventId,
    originServerTs: ts,
  });
  // Alice's poll reaches Joe as text, and is mapped.
  await toPeople.handle(roomEvent("org.matrix.msc3381.poll.start", POLL, "$poll", 10), portal);
  const pollMessage = alice.sent[0]!.id;
  const joeSays = (content: MessageContent) => incoming({ from: JOE, to: [alice.address], content });
  return { ghosts, messages, toPeople, toMatrix, portal, alice, roomEvent, pollMessage, joeSays };
}

describe("polls through the flows", function () {
  it("a People reply naming an option becomes the ghost's vote, once", async function () {
    const s = await setup();
    const ghosts = s.ghosts as ReadableGhosts;
    ghosts.events.set("$poll", { type: "org.matrix.msc3381.poll.start", sender: ALICE, content: POLL });
    assert.equal(s.alice.sent[0]!.content.type, "text");
    const m = s.joeSays({ type: "text", body: "Soup", reply_to: s.pollMessage as MessageId });
    await s.toMatrix.handle(s.alice, m);
    await s.toMatrix.handle(s.alice, m);
    const votes = ghosts.sent.filter((e) => e.type === "org.matrix.msc3381.poll.response");
    assert.equal(votes.length, 1);
    assert.deepEqual(votes[0]!.content, {
      "org.matrix.msc3381.poll.response": { answers: ["soup"] },
      "m.relates_to": { rel_type: "m.reference", event_id: "$poll" },
    });
    assert.ok(await s.messages.byMessage(JOE, m.id), "the vote is what Joe's reply maps to");
    // A longer, multi-line reply is never read as a vote: no homeserver read for it.
    const reads = ghosts.reads;
    await s.toMatrix.handle(
      s.alice,
      s.joeSays({ type: "text", body: "Soup\nor pizza", reply_to: s.pollMessage as MessageId }),
    );
    assert.equal(ghosts.reads, reads);
    assert.equal(ghosts.sent.at(-1)!.content.msgtype, "m.text");
  });

  it("a reply that arrives while the homeserver cannot be read waits and is tried again", async function () {
    const s = await setup();
    const ghosts = s.ghosts as ReadableGhosts;
    ghosts.events.set("$poll", { type: "org.matrix.msc3381.poll.start", sender: ALICE, content: POLL });
    ghosts.failReads = Object.assign(new Error("homeserver unavailable"), { statusCode: 502 });
    const m = s.joeSays({ type: "text", body: "1", reply_to: s.pollMessage as MessageId });
    await assert.rejects(s.toMatrix.handle(s.alice, m));
    assert.equal(ghosts.sent.filter((e) => e.type !== "m.room.message" || e.content.body === "1").length, 0);
    ghosts.failReads = undefined;
    await s.toMatrix.handle(s.alice, m);
    const votes = ghosts.sent.filter((e) => e.type === "org.matrix.msc3381.poll.response");
    assert.deepEqual(votes[0]?.content["org.matrix.msc3381.poll.response"], { answers: ["pizza"] });
  });

  it("the poll's end sends the results counted from the homeserver's votes, in reply to the poll", async function () {
    const s = await setup();
    const ghosts = s.ghosts as ReadableGhosts;
    ghosts.events.set("$poll", { type: "org.matrix.msc3381.poll.start", sender: ALICE, content: POLL });
    ghosts.refs.set("$poll", [
      vote(ALICE, "pizza", 20),
      vote("@_people_joe=40other.test:hs.test", "soup", 21),
      vote("@bob:hs.test", "soup", 500),
    ]);
    const end = {
      "org.matrix.msc3381.poll.end": {},
      "org.matrix.msc1767.text": "Ended poll",
      "m.relates_to": { rel_type: "m.reference", event_id: "$poll" },
    };
    await s.toPeople.handle(s.roomEvent("org.matrix.msc3381.poll.end", end, "$end", 100), s.portal);
    assert.deepEqual(s.alice.sent.at(-1)!.content, {
      type: "text",
      body: "📊 Poll ended: Lunch?\n1. Pizza: 1 vote\n2. Soup: 1 vote",
      reply_to: s.pollMessage,
    });
    // Alice's own vote stays in Matrix (it is counted at the end).
    const sent = s.alice.sent.length;
    await s.toPeople.handle(
      s.roomEvent("org.matrix.msc3381.poll.response", vote(ALICE, "soup", 30).content, "$v"),
      s.portal,
    );
    assert.equal(s.alice.sent.length, sent);
    assert.deepEqual(ghosts.notices(), []);
  });

  it("without the adapter's reads, a reply stays a reply and the end sends its own text", async function () {
    const s = await setup(new FakeGhosts());
    await s.toMatrix.handle(
      s.alice,
      s.joeSays({ type: "text", body: "2", reply_to: s.pollMessage as MessageId }),
    );
    const reply = s.ghosts.sent.at(-1)!;
    assert.equal(reply.content.msgtype, "m.text");
    assert.deepEqual(reply.content["m.relates_to"], { "m.in_reply_to": { event_id: "$poll" } });
    const end = {
      "org.matrix.msc1767.text": "Ended poll",
      "m.relates_to": { rel_type: "m.reference", event_id: "$poll" },
    };
    await s.toPeople.handle(s.roomEvent("m.poll.end", end, "$end"), s.portal);
    assert.deepEqual(s.alice.sent.at(-1)!.content, {
      type: "text",
      body: "📊 Ended poll",
      reply_to: s.pollMessage,
    });
  });
});
