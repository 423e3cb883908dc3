// The calls feature's two directions with fakes on both sides (the real call
// store on SQLite): what Element's call events make the People account do,
// what a People call leg makes the ghost send, a group room's notice, and the
// calls a restart left behind hung up on both sides.
import assert from "node:assert/strict";
import { CallContext, audioOnlyText } from "../../src/bridge/calls/call-context.js";
import { GROUP_CALL_TEXT, MatrixCalls } from "../../src/bridge/calls/matrix-calls.js";
import { PeopleCalls } from "../../src/bridge/calls/people-calls.js";
import type { MatrixUserId } from "../../src/bridge/model/matrix-ids.js";
import type {
  CallCandidate,
  CallLeg,
  CallLegEvents,
  PeopleCalls as PeopleCallsPort,
  RingingCall,
} from "../../src/bridge/core/ports/people-side.js";
import { Permissions } from "../../src/bridge/core/permissions.js";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import type { BridgeStore, Portal } from "../../src/bridge/core/ports/store.js";
import { parseAddress, type PeopleAddress } from "../../src/people/protocol/address.js";
import { Emitter } from "../../src/people/client/emitter.js";
import { FakeGhosts, FakePeople, incoming, newMetrics, silentLog } from "../helpers/portal-fakes.js";

const ALICE = "@alice:hs.test";
const JOE = parseAddress("joe@other.test");
const SDP = `v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 ${"AB:".repeat(31)}AB\r\n`;
const PORTAL: Portal = { roomId: "!dm:hs.test", matrixUser: ALICE, peopleAddress: JOE, createdAt: 1 };

class FakeLeg implements CallLeg {
  readonly events = new Emitter<CallLegEvents>();
  readonly local: CallCandidate[] = [];
  device: string | undefined;
  hungUp: string | undefined;
  /** Times the bridge said the leg is connected (media runs between the clients, out of its sight). */
  connects = 0;
  constructor(
    readonly session: string,
    readonly media: "voice" | "video",
  ) {}
  peerDevice() {
    return this.device;
  }
  connected() {
    this.connects++;
  }
  addLocalCandidates(c: readonly CallCandidate[]) {
    this.local.push(...c);
  }
  async hangup(reason = "normal") {
    this.hungUp = reason;
    this.events.emit("ended", { reason: "normal", remote: false });
  }
  on<K extends keyof CallLegEvents>(event: K, listener: (v: CallLegEvents[K]) => void) {
    return this.events.on(event, listener);
  }
}

class FakeCalls implements PeopleCallsPort {
  readonly placed: { to: PeopleAddress; media: string; sdp: string; ringMs: number; leg: FakeLeg }[] = [];
  readonly rings = new Map<string, RingingCall>();
  readonly answered: { session: string; sdp: string; leg: FakeLeg }[] = [];
  readonly rejected: { session: string; reason: string }[] = [];
  readonly lost: { to: string; session: string }[] = [];
  private n = 0;
  async place(to: PeopleAddress, o: { media: "voice" | "video"; sdp: string; ringMs: number }) {
    const leg = new FakeLeg(`S${++this.n}`.padEnd(22, "A"), o.media);
    this.placed.push({ to, ...o, leg });
    return leg;
  }
  ringing(session: string) {
    return this.rings.get(session);
  }
  async answer(session: string, sdp: string) {
    const r = this.rings.get(session)!;
    const leg = new FakeLeg(session, r.media);
    leg.device = r.device;
    this.answered.push({ session, sdp, leg });
    return leg;
  }
  async reject(session: string, reason: "declined" | "busy") {
    this.rejected.push({ session, reason });
  }
  async hangupLost(to: PeopleAddress, session: string) {
    this.lost.push({ to, session });
  }
}

describe("bridged calls (bridge/calls) with fakes", function () {
  let store: BridgeStore;
  let ghosts: FakeGhosts;
  let calls: FakeCalls;
  let matrix: MatrixCalls;
  let people: PeopleCalls;
  let fakePeople: FakePeople;
  let ctx: CallContext;
  let seq = 0;

  beforeEach(async function () {
    store = await openBridgeStore({ engine: "sqlite", connection: ":memory:" });
    ghosts = new FakeGhosts();
    fakePeople = new FakePeople();
    calls = new FakeCalls();
    Object.assign(await fakePeople.accountFor(ALICE), { calls });
    ctx = new CallContext({ ghosts, store: store.calls, metrics: newMetrics(), log: silentLog });
    const groupRoom = { members: [{ address: JOE }, { address: "alice@people.test", matrixUser: ALICE }] };
    matrix = new MatrixCalls({
      ctx,
      people: fakePeople,
      permissions: new Permissions({ "hs.test": "user" }),
      dms: { byRoom: async (id) => (id === PORTAL.roomId ? PORTAL : undefined) },
      groups: { byRoom: async (id) => (id === "!group:hs.test" ? groupRoom : undefined) },
    });
    people = new PeopleCalls({
      ctx,
      people: fakePeople,
      dms: { byPair: async () => PORTAL, ensurePortal: async () => ({ portal: PORTAL }) },
      ensureGhost: async () => undefined,
    });
  });

  afterEach(async function () {
    await store.close();
  });

  const event = (type: string, content: Record<string, unknown>, roomId = PORTAL.roomId) =>
    matrix.handle({
      type,
      content,
      roomId,
      sender: ALICE,
      eventId: `$e${++seq}`,
      originServerTs: Date.now(),
    });
  const sentOf = (type: string) => ghosts.sent.filter((e) => e.type === type);
  /** The ghost's sends of a call are queued on its lock: a task after them waits for them. */
  const settled = (callId: string) => ctx.lock.run(callId, async () => undefined);

  it("Element calls Joe: the People call is placed with her SDP, his answer and candidates come back from the ghost, her hangup ends it", async function () {
    const base = { call_id: "c1", party_id: "alice-dev", version: "1" };
    assert.equal(
      await event("m.call.invite", { ...base, lifetime: 30_000, offer: { type: "offer", sdp: SDP } }),
      true,
    );
    const placed = calls.placed[0]!;
    assert.deepEqual([placed.to, placed.media, placed.sdp, placed.ringMs], [JOE, "voice", SDP, 30_000]);
    assert.equal((await store.calls.byCallId("c1"))?.session, placed.leg.session);
    const cand = { candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", sdpMid: "0", sdpMLineIndex: 0 };
    await event("m.call.candidates", { ...base, candidates: [cand] });
    assert.deepEqual(placed.leg.local, [{ candidate: cand.candidate, mid: "0", index: 0 }]);
    placed.leg.device = "JOEDEVICE";
    assert.equal(placed.leg.connects, 0, "not connected before Joe answers");
    placed.leg.events.emit("remoteSdp", "v=0 answer");
    // Else the People call's 30 s connect timeout ends an answered call (the bridge sees no media).
    assert.equal(placed.leg.connects, 1, "the answered leg is told it is connected");
    placed.leg.events.emit("remoteCandidates", [
      { candidate: cand.candidate, mid: "0", index: 0 },
      { candidate: "" },
    ]);
    await settled("c1");
    const answer = sentOf("m.call.answer")[0]!;
    assert.deepEqual(answer.content, {
      call_id: "c1",
      party_id: "JOEDEVICE",
      version: "1",
      answer: { type: "answer", sdp: "v=0 answer" },
    });
    assert.equal(answer.ghost, ghosts.ghostId(JOE));
    assert.deepEqual(sentOf("m.call.candidates")[0]!.content.candidates, [
      { candidate: cand.candidate, sdpMid: "0", sdpMLineIndex: 0 },
      { candidate: "" },
    ]);
    await event("m.call.hangup", { ...base, reason: "user_hangup" });
    await settled("c1");
    assert.equal(placed.leg.hungUp, "normal");
    assert.equal(sentOf("m.call.hangup").length, 0, "Alice's own hangup is not echoed back");
    assert.ok((await store.calls.byCallId("c1"))?.endedAt, "ended, and kept so a replay calls nobody");
    // Catch-up after a restart reads the invite again: the ended call is not placed anew.
    await event("m.call.invite", { ...base, lifetime: 30_000, offer: { type: "offer", sdp: SDP } });
    assert.equal(calls.placed.length, 1);
  });

  it("Joe declining before an answer is a reject in Element; an invite older than its lifetime rings nowhere", async function () {
    await event("m.call.invite", {
      call_id: "c2",
      party_id: "a",
      version: "1",
      offer: { type: "offer", sdp: SDP },
    });
    const leg = calls.placed[0]!.leg;
    leg.events.emit("ended", { reason: "declined", remote: true });
    await settled("c2");
    assert.equal(sentOf("m.call.reject").length, 1);
    assert.ok((await store.calls.byCallId("c2"))?.endedAt);
    await matrix.handle({
      type: "m.call.invite",
      content: { call_id: "old", version: "1", lifetime: 60_000, offer: { type: "offer", sdp: SDP } },
      roomId: PORTAL.roomId,
      sender: ALICE,
      eventId: "$old",
      originServerTs: Date.now() - 120_000,
    });
    assert.equal(calls.placed.length, 1, "an old invite from catch-up places no call");
  });

  it("Joe calls Alice: the ghost's invite rings, her answer answers the People call, his hangup while ringing ends the ring", async function () {
    const alice = await fakePeople.accountFor(ALICE);
    const session = "JJJJJJJJJJJJJJJJJJJJJA";
    calls.rings.set(session, { session, from: JOE, device: "JOEDEV", media: "video", sdp: SDP });
    const offer = {
      type: "rt_offer",
      session,
      media: "video",
      sdp: SDP,
      dtls_fingerprint: `sha-256 ${"AB:".repeat(31)}AB`,
    };
    await people.flow(alice, incoming({ from: JOE, to: [alice.address], content: offer as never }));
    const invite = sentOf("m.call.invite")[0]!;
    assert.equal(invite.content.call_id, session);
    assert.equal(invite.content.party_id, "JOEDEV");
    assert.equal(invite.content.invitee, ALICE);
    assert.deepEqual(invite.content.offer, { type: "offer", sdp: SDP });
    await event("m.call.answer", {
      call_id: session,
      party_id: "alice-dev",
      version: "1",
      answer: { type: "answer", sdp: "v=0 a" },
    });
    assert.deepEqual(
      calls.answered.map((a) => [a.session, a.sdp]),
      [[session, "v=0 a"]],
    );
    assert.equal(sentOf("m.call.select_answer")[0]?.content.selected_party_id, "alice-dev");
    assert.equal(calls.answered[0]!.leg.connects, 1, "the answered leg is told it is connected");

    const second = "KKKKKKKKKKKKKKKKKKKKKA";
    calls.rings.set(second, { session: second, from: JOE, device: "JOEDEV", media: "voice", sdp: SDP });
    await people.flow(
      alice,
      incoming({ from: JOE, to: [alice.address], content: { ...offer, session: second } as never }),
    );
    const hangup = { type: "rt_hangup", session: second, reason: "timeout" };
    await people.flow(alice, incoming({ from: JOE, to: [alice.address], content: hangup as never }));
    const ringEnd = sentOf("m.call.hangup").find((e) => e.content.call_id === second)!;
    assert.equal(ringEnd.content.reason, "invite_timeout");
    assert.ok((await store.calls.bySession(second))?.endedAt);
  });

  it("Element's video call answered audio only by Joe's device: the answer goes through and a notice says so", async function () {
    const VIDEO = `${SDP}m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n`;
    const noPicture = audioOnlyText(JOE);
    const calls3 = [
      { id: "v1", answer: `${SDP}m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=inactive\r\n`, notice: true },
      { id: "v2", answer: SDP, notice: true },
      { id: "v3", answer: VIDEO, notice: false },
    ];
    for (const c of calls3) {
      const base = { call_id: c.id, party_id: "alice-dev", version: "1" };
      await event("m.call.invite", { ...base, lifetime: 30_000, offer: { type: "offer", sdp: VIDEO } });
      const leg = calls.placed.at(-1)!.leg;
      assert.equal(leg.media, "video");
      leg.device = "JOEDEVICE";
      leg.events.emit("remoteSdp", c.answer);
      await settled(c.id);
      const notices = ghosts.sent.filter(
        (e) => e.content.msgtype === "m.notice" && e.content.body === noPicture,
      );
      assert.equal(
        notices.length,
        calls3.slice(0, calls3.indexOf(c) + 1).filter((x) => x.notice).length,
        c.id,
      );
      assert.equal(sentOf("m.call.answer").length, calls3.indexOf(c) + 1, "the answer itself is bridged");
    }
    // A voice call answered without video is what was asked for: no notice.
    await event("m.call.invite", {
      call_id: "a1",
      party_id: "p",
      version: "1",
      offer: { type: "offer", sdp: SDP },
    });
    calls.placed.at(-1)!.leg.events.emit("remoteSdp", SDP);
    await settled("a1");
    assert.equal(ghosts.sent.filter((e) => e.content.body === noPicture).length, 2);
  });

  it("answers a call in a group room with a notice, and places nothing", async function () {
    await event(
      "m.call.invite",
      { call_id: "g", version: "1", offer: { type: "offer", sdp: SDP } },
      "!group:hs.test",
    );
    assert.equal(calls.placed.length, 0);
    assert.equal(ghosts.notices().length, 1);
    assert.equal(ghosts.notices()[0], GROUP_CALL_TEXT);
  });

  it("hangs up on both sides the calls a restart left behind", async function () {
    await store.calls.put({
      callId: "left",
      session: "LLLLLLLLLLLLLLLLLLLLLA",
      roomId: PORTAL.roomId,
      matrixUser: ALICE as MatrixUserId,
      peopleAddress: JOE,
      direction: "to_people",
      peopleDevice: undefined,
      createdAt: 1,
    });
    assert.equal(await people.hangUpLeftovers(), 1);
    assert.equal(sentOf("m.call.reject")[0]?.content.call_id, "left");
    assert.deepEqual(calls.lost, [{ to: JOE, session: "LLLLLLLLLLLLLLLLLLLLLA" }]);
    assert.deepEqual(await store.calls.all(), []);
  });
});
