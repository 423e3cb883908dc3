// Element X (MatrixRTC) calls bridged to People calls, the decisions alone, with fakes for the
// ghost's Matrix actions, the LiveKit leg, the People leg's WebRTC peer and the People account:
// who rings whom, when the ghost joins, which keys go where, how each end ends the other, and the
// line each call leaves. The media path itself is test/integration/rtc-media-relay.test.ts.
import assert from "node:assert/strict";
import type {
  CallLeg,
  CallLegEvents,
  PeopleCalls,
  RingingCall,
} from "../../src/bridge/core/ports/people-side.js";
import type { RtcGhostPort, RtcLeg, RtcMediaPorts } from "../../src/bridge/adapters/rtc/rtc-call-ports.js";
import { RtcCalls } from "../../src/bridge/adapters/rtc/rtc-calls.js";
import { clientCalls } from "../../src/bridge/adapters/accounts/client-calls.js";
import { endLeftoverRtcCalls } from "../../src/bridge/adapters/rtc/rtc-leftovers.js";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import {
  RTC_GROUP_TEXT,
  RTC_NO_FOCUS_TEXT,
  formatDuration,
  memberStateKey,
} from "../../src/bridge/adapters/rtc/rtc-content.js";
import type { BridgeStore, Portal, RtcCallStore } from "../../src/bridge/core/ports/store.js";
import { Emitter } from "../../src/people/client/emitter.js";
import { transcodeMedia } from "../../src/bridge/adapters/rtc/transcode-media.js";
import type { MediaPeer, MediaPeerEvents, PeerOptions } from "../../src/people/client/calls/media-engine.js";
import { parseAddress } from "../../src/people/protocol/address.js";
import { silentLog } from "../helpers/portal-fakes.js";

const ALICE = "@alice:hs.test";
const JOE = parseAddress("joe@other.test");
const GHOST = "@_people_joe=40other.test:hs.test";
const DM: Portal = { roomId: "!dm:hs.test", matrixUser: ALICE, peopleAddress: JOE, createdAt: 1 };
const FOCUS = { type: "livekit" as const, livekit_service_url: "https://lk.hs.test" };
const KEY = new Uint8Array(16).fill(7);

const memberEvent = (device: string, content: Record<string, unknown> | undefined) => ({
  roomId: DM.roomId,
  eventId: `$m-${device}-${content ? "join" : "leave"}`,
  sender: ALICE,
  type: "org.matrix.msc3401.call.member",
  stateKey: `_${ALICE}_${device}_m.call`,
  content: content ?? {},
});
const joined = (device: string) =>
  memberEvent(device, {
    application: "m.call",
    call_id: "",
    scope: "m.room",
    device_id: device,
    focus_active: { type: "livekit", focus_selection: "oldest_membership" },
    foci_preferred: [FOCUS],
    "m.call.intent": "video",
  });
const ring = (roomId = DM.roomId, intent: "audio" | "video" = "video") => ({
  roomId,
  eventId: "$ring",
  sender: ALICE,
  type: "org.matrix.msc4075.rtc.notification",
  content: {
    notification_type: "ring",
    "m.mentions": { user_ids: [GHOST] },
    "m.call.intent": intent,
    lifetime: 30_000,
  },
});

class FakeLk implements RtcLeg {
  connected: { url: string; jwt: string; video: boolean; e2ee?: false } | undefined;
  readonly keys: [string, number][] = [];
  closed = false;
  readonly handlers = {
    audio: [] as unknown[],
    video: [] as unknown[],
    left: [] as ((id: string) => void)[],
  };
  connect(url: string, jwt: string, o: { video?: boolean; e2ee?: boolean }) {
    this.connected = { url, jwt, video: o.video === true, ...(o.e2ee === false ? { e2ee: false } : {}) };
    return Promise.resolve();
  }
  setKey(identity: string, key: Uint8Array) {
    this.keys.push([identity, key[0]!]);
  }
  on(event: "audio" | "video" | "left", h: never) {
    (this.handlers[event] as unknown[]).push(h);
  }
  sendPcm() {
    return Promise.resolve();
  }
  sendVideo() {}
  close() {
    this.closed = true;
    return Promise.resolve();
  }
}

class FakePeer implements MediaPeer {
  readonly events = new Emitter<MediaPeerEvents>();
  answer: string | undefined;
  offer: string | undefined;
  closed = false;
  constructor(readonly o: PeerOptions) {}
  createOffer() {
    return Promise.resolve("bridge-offer");
  }
  acceptOffer(sdp: string) {
    this.offer = sdp;
    return Promise.resolve("bridge-answer");
  }
  acceptAnswer(sdp: string) {
    this.answer = sdp;
    return Promise.resolve();
  }
  addCandidate() {
    return Promise.resolve();
  }
  remoteCertificateFingerprint() {
    return Promise.resolve(undefined);
  }
  close() {
    this.closed = true;
  }
}

class FakeCallLeg implements CallLeg {
  readonly events = new Emitter<CallLegEvents>();
  hungUp: string | undefined;
  isConnected = false;
  readonly media = "video" as const;
  constructor(readonly session: string) {}
  peerDevice() {
    return "JOEDEVICE";
  }
  addLocalCandidates() {}
  hangup(reason = "normal") {
    this.hungUp = reason;
    return Promise.resolve();
  }
  connected() {
    this.isConnected = true;
  }
  on<K extends keyof CallLegEvents>(event: K, l: (v: CallLegEvents[K]) => void) {
    return this.events.on(event, l);
  }
}

const TURN = [{ urls: ["turn:turn.test:3478?transport=udp"], username: "1700000000:alice", credential: "c" }];

function world(
  o: {
    focus?: boolean;
    encrypted?: boolean;
    turn?: "none" | "fails";
    /** The calls' rows (a real SQLite store in the persistence tests). */
    store?: RtcCallStore;
    /** The homeserver takes delayed events (MSC4140); what the ghost reads of power levels. */
    delayed?: boolean;
    levels?: Record<string, unknown>;
    keyAskDelaysMs?: number[];
  } = {},
) {
  let now = 1_000_000;
  const sent: { type: string; content: Record<string, unknown>; txnKey: string }[] = [];
  const state: { stateKey: string; content: Record<string, unknown> }[] = [];
  const mediaKeys: { targets: { userId: string; deviceId: string }[] }[] = [];
  const told: string[] = [];
  const placed: { to: string; sdp: string; ringMs: number; media: string }[] = [];
  const answered: { session: string; sdp: string }[] = [];
  const rejected: { session: string; reason: string }[] = [];
  const lks: FakeLk[] = [];
  const peers: FakePeer[] = [];
  const legs: FakeCallLeg[] = [];
  /** The ghost's requests in order: "leave:<key>", "member:<key>", "refresh", "cancel", "levels". */
  const order: string[] = [];
  /** The rows recorded when Joe's devices were rung (Matrix → People). */
  const rowsAtPlace: unknown[][] = [];
  const ghost: RtcGhostPort = {
    device: () => Promise.resolve("GHOSTDEV"),
    roomEncrypted: () => Promise.resolve(o.encrypted !== false),
    openIdToken: () => Promise.resolve({ access_token: "openid" }),
    setState: (_g, _r, type, stateKey, content) => {
      if (type === "m.room.power_levels") order.push("levels");
      else order.push(`${Object.keys(content).length > 0 ? "member" : "empty"}:${stateKey}`);
      state.push({ stateKey, content });
      return Promise.resolve(`$state${state.length}`);
    },
    send: (_g, _r, type, content, txnKey) => {
      sent.push({ type, content, txnKey });
      return Promise.resolve(`$sent${sent.length}`);
    },
    sendMediaKey: (_g, _r, targets) => {
      mediaKeys.push({ targets });
      return Promise.resolve();
    },
    ...(o.delayed
      ? {
          scheduleLeave: (_g: string, _r: string, stateKey: string) => {
            order.push(`leave:${stateKey}`);
            return Promise.resolve("delay1");
          },
          refreshLeave: () => {
            order.push("refresh");
            return Promise.resolve();
          },
          cancelLeave: (_g: string, id: string) => {
            order.push(`cancel:${id}`);
            return Promise.resolve();
          },
          roomState: () => Promise.resolve(o.levels),
        }
      : {}),
  };
  /** Each call media's `onLost` handlers (the sidecar dying under a call). */
  const lost: ((why: string) => void)[] = [];
  const transcode = transcodeMedia({
    newLeg: () => {
      const lk = new FakeLk();
      lks.push(lk);
      return lk;
    },
    createPeer: (p) => {
      const peer = new FakePeer(p);
      peers.push(peer);
      return peer;
    },
  });
  const media: RtcMediaPorts = {
    newCallMedia: (p) => ({ ...transcode(p), onLost: (h) => void lost.push(h) }),
    token: ({ deviceId }) => Promise.resolve({ url: "wss://lk", jwt: `jwt-for-${deviceId}` }),
    newKey: () => new Uint8Array(16).fill(9),
  };
  const calls: PeopleCalls = {
    place: async (to, p) => {
      rowsAtPlace.push((await o.store?.all()) ?? []);
      placed.push({ to, ...p });
      const leg = new FakeCallLeg(`s${legs.length}`);
      legs.push(leg);
      return leg;
    },
    ringing: () => undefined,
    answer: (session, sdp) => {
      answered.push({ session, sdp });
      const leg = new FakeCallLeg(session);
      legs.push(leg);
      return Promise.resolve(leg);
    },
    reject: (session, reason) => {
      rejected.push({ session, reason });
      return Promise.resolve();
    },
    hangupLost: () => Promise.resolve(),
    ...(o.turn === "none"
      ? {}
      : {
          iceServers: () =>
            o.turn === "fails" ? Promise.reject(new Error("TURN is down")) : Promise.resolve(TURN),
        }),
  };
  const rtc = new RtcCalls({
    ghost,
    media,
    people: { accountFor: () => Promise.resolve({ calls } as never) },
    dms: { byRoom: (id) => Promise.resolve(id === DM.roomId ? DM : undefined) },
    isGroupRoom: (id) => Promise.resolve(id === "!group:hs.test"),
    ghostOf: () => GHOST as never,
    focus: () => Promise.resolve(o.focus === false ? undefined : FOCUS),
    tell: (_room, text) => {
      told.push(text);
      return Promise.resolve();
    },
    log: silentLog,
    now: () => now,
    ...(o.store ? { store: o.store } : {}),
    // Asking again for a missing key waits for minutes here unless a test wants it.
    keyAskDelaysMs: o.keyAskDelaysMs ?? [3_600_000],
  });
  const lines = () => sent.filter((s) => s.type === "m.room.message").map((s) => s.content.body);
  const settle = () => new Promise((r) => setImmediate(r));
  return {
    rtc,
    sent,
    state,
    mediaKeys,
    told,
    placed,
    answered,
    rejected,
    lks,
    peers,
    legs,
    order,
    rowsAtPlace,
    lines,
    lost,
    settle,
    advance: (ms: number) => (now += ms),
  };
}

describe("bridge: Element X (MatrixRTC) calls ⇄ People calls", function () {
  it("formats durations as Element does", function () {
    assert.equal(formatDuration(42_000), "0:42");
    assert.equal(formatDuration(12 * 60_000 + 5_000), "12:05");
    assert.equal(formatDuration(3_723_000), "1:02:03");
  });

  it("Matrix → People: a ring places a People call; the answer makes the ghost join with its key; Alice leaving ends both", async function () {
    const w = world();
    await w.rtc.handle(joined("ALICEDEV"));
    assert.equal(w.placed.length, 0, "a membership alone rings nobody");
    await w.rtc.handle(ring());
    assert.deepEqual(w.placed, [{ to: JOE, media: "video", sdp: "bridge-offer", ringMs: 30_000 }]);
    const peer = w.peers[0]!;
    assert.ok(peer.o.live, "the People leg takes the relay as its live input");
    assert.equal(w.lks[0]!.connected, undefined, "the ghost joins only once People answers");
    // Alice's key may come before the ghost's LiveKit leg exists: kept, set on connect.
    w.rtc.mediaKey(DM.roomId, ALICE, "ALICEDEV", KEY, 0);
    w.legs[0]!.events.emit("remoteSdp", "joe-answer");
    await w.settle();
    await w.settle();
    assert.equal(peer.answer, "joe-answer");
    const lk = w.lks[0]!;
    assert.deepEqual(lk.connected, { url: "wss://lk", jwt: "jwt-for-GHOSTDEV", video: true });
    assert.deepEqual(lk.keys, [
      [`${GHOST}:GHOSTDEV`, 9],
      [`${ALICE}:ALICEDEV`, 7],
    ]);
    assert.equal(w.state[0]!.stateKey, memberStateKey(GHOST, "GHOSTDEV"));
    assert.equal(w.state[0]!.content.device_id, "GHOSTDEV");
    assert.deepEqual(w.mediaKeys, [{ targets: [{ userId: ALICE, deviceId: "ALICEDEV" }] }]);
    peer.events.emit("state", "connected");
    assert.ok(w.legs[0]!.isConnected, "the People leg is told media flows");

    w.advance(42_000);
    await w.rtc.handle(memberEvent("ALICEDEV", undefined));
    assert.equal(w.legs[0]!.hungUp, "normal");
    assert.ok(peer.closed && lk.closed);
    assert.deepEqual(w.state.at(-1), { stateKey: memberStateKey(GHOST, "GHOSTDEV"), content: {} });
    assert.deepEqual(w.lines(), ["Call ended, 0:42"]);
    assert.equal(w.rtc.callIn(DM.roomId), undefined);
  });

  it("no media key from Alice's call device after the ghost joined (Synapse lost her to-device message): the ghost announces its membership again, with its key; a key stops the asking", async function () {
    const w = world({ keyAskDelaysMs: [1, 1, 1] });
    await w.rtc.handle(joined("ALICEDEV"));
    await w.rtc.handle(ring());
    w.legs[0]!.events.emit("remoteSdp", "joe-answer");
    const ghostMemberships = () => w.state.filter((s) => Object.keys(s.content).length > 0);
    const until = async (what: string, ok: () => boolean) => {
      for (let i = 0; i < 10_000 && !ok(); i++) await new Promise((r) => setTimeout(r, 1));
      assert.ok(ok(), what);
    };
    await until("the ghost joined", () => ghostMemberships().length === 1);
    w.advance(1_000);
    await until("asked again", () => ghostMemberships().length === 2);
    const [first, again] = ghostMemberships();
    assert.equal(again!.stateKey, first!.stateKey, "the same membership, announced again");
    assert.ok(
      (again!.content.created_ts as number) > (first!.content.created_ts as number),
      "a new created_ts: a new joiner to Element Call, which shares its key",
    );
    await until("its own key sent again with it", () => w.mediaKeys.length >= 2);
    w.rtc.mediaKey(DM.roomId, ALICE, "ALICEDEV", KEY, 1);
    const asked = ghostMemberships().length;
    assert.ok(asked <= 4, "three asks at most");
    // Satisfied: no timer is left to ask again (the call's watch stopped).
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(ghostMemberships().length, asked, "no ask after the key came");
    assert.deepEqual(w.lks[0]!.keys.at(-1), [`${ALICE}:ALICEDEV`, 7]);
  });

  it("three asks at most when the key never comes; an unencrypted call asks for none", async function () {
    const w = world({ keyAskDelaysMs: [1, 1, 1] });
    await w.rtc.handle(joined("ALICEDEV"));
    await w.rtc.handle(ring());
    w.legs[0]!.events.emit("remoteSdp", "joe-answer");
    const memberships = () => w.state.filter((s) => Object.keys(s.content).length > 0).length;
    for (let i = 0; i < 10_000 && memberships() < 4; i++) await new Promise((r) => setTimeout(r, 1));
    assert.equal(memberships(), 4, "the join and three asks");
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(memberships(), 4, "then it gives up");
    const plain = world({ encrypted: false, keyAskDelaysMs: [1, 1, 1] });
    await plain.rtc.handle(joined("ALICEDEV"));
    await plain.rtc.handle(ring());
    plain.legs[0]!.events.emit("remoteSdp", "joe-answer");
    for (let i = 0; i < 10_000 && plain.state.length === 0; i++) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(
      plain.state.filter((s) => Object.keys(s.content).length > 0).length,
      1,
      "joined, never asks",
    );
  });

  it("the media path lost under an answered call (its sidecar died): both legs end, 'Call ended'; unanswered: could not be connected, Joe hung up as failed", async function () {
    const w = world();
    await w.rtc.handle(joined("ALICEDEV"));
    await w.rtc.handle(ring());
    w.legs[0]!.events.emit("remoteSdp", "joe-answer");
    await w.settle();
    await w.settle();
    w.advance(5_000);
    w.lost[0]!("the relay process killed by SIGKILL");
    await w.settle();
    await w.settle();
    assert.equal(w.legs[0]!.hungUp, "normal", "Joe's devices are hung up");
    assert.ok(w.peers[0]!.closed && w.lks[0]!.closed);
    assert.deepEqual(w.state.at(-1), { stateKey: memberStateKey(GHOST, "GHOSTDEV"), content: {} });
    assert.deepEqual(w.lines(), ["Call ended, 0:05"]);
    assert.equal(w.rtc.callIn(DM.roomId), undefined);
    await w.rtc.handle(ring());
    w.lost[1]!("the relay process exited with 2");
    await w.settle();
    assert.equal(w.legs[1]!.hungUp, "failed", "an unanswered call that broke is hung up as failed");
    assert.equal(w.lines().at(-1), `The call with ${JOE} could not be connected`);
  });

  it("Matrix → People: Joe's device declining, or nobody answering, leaves its line and the ghost never joins", async function () {
    const w = world();
    await w.rtc.handle(joined("ALICEDEV"));
    await w.rtc.handle(ring());
    w.legs[0]!.events.emit("ended", { reason: "declined", remote: true });
    await w.settle();
    assert.deepEqual(w.lines(), [`${JOE} declined the call`]);
    assert.equal(w.state.length, 0);
    assert.equal(w.legs[0]!.hungUp, undefined, "People ended it: nothing is sent back");
    await w.rtc.handle(ring());
    w.legs[1]!.events.emit("ended", { reason: "timeout", remote: false });
    await w.settle();
    assert.deepEqual(w.lines().at(-1), `${JOE} did not answer`);
  });

  it("a ring in a group room, or with no LiveKit focus, is answered with a notice and calls nobody", async function () {
    const w = world({ focus: false });
    await w.rtc.handle(ring("!group:hs.test"));
    assert.deepEqual(w.told, [RTC_GROUP_TEXT]);
    await w.rtc.handle(ring());
    assert.deepEqual(w.told, [RTC_GROUP_TEXT, RTC_NO_FOCUS_TEXT]);
    assert.equal(w.placed.length, 0);
  });

  it("refuses malformed events and ignores the ghost's own", async function () {
    const w = world();
    await w.rtc.handle({ ...joined("ALICEDEV"), content: { device_id: 5 } });
    await w.rtc.handle({ ...ring(), content: { notification_type: "ring" } });
    await w.rtc.handle({ ...ring(), sender: GHOST });
    assert.equal(w.placed.length, 0);
    assert.equal(await w.rtc.handle({ ...ring(), type: "m.room.message" }), false);
  });

  const joeRings: RingingCall = {
    session: "sess1",
    from: JOE,
    device: "JOEDEVICE",
    media: "video",
    sdp: "joe-offer",
  };

  it("People → Matrix: the ghost starts the call and rings; Alice joining answers; Joe hanging up ends it", async function () {
    const w = world();
    await w.rtc.ringMatrix(DM, joeRings);
    assert.ok(w.lks[0]!.connected, "the ghost is in the call before it rings");
    const notif = w.sent.find((s) => s.type === "org.matrix.msc4075.rtc.notification");
    assert.ok(notif);
    assert.equal(notif.content.notification_type, "ring");
    assert.deepEqual(notif.content["m.mentions"], { user_ids: [ALICE], room: false });
    assert.deepEqual(notif.content["m.relates_to"], { rel_type: "m.reference", event_id: "$state1" });
    await w.rtc.handle(joined("ALICEDEV"));
    assert.equal(w.peers[0]!.offer, "joe-offer");
    assert.deepEqual(w.answered, [{ session: "sess1", sdp: "bridge-answer" }]);
    assert.deepEqual(
      w.mediaKeys,
      [{ targets: [{ userId: ALICE, deviceId: "ALICEDEV" }] }],
      "the ghost's key goes to the device that joined",
    );
    w.rtc.mediaKey(DM.roomId, ALICE, "ALICEDEV", KEY, 0);
    assert.deepEqual(w.lks[0]!.keys.at(-1), [`${ALICE}:ALICEDEV`, 7]);
    w.advance(61_000);
    w.legs[0]!.events.emit("ended", { reason: "normal", remote: true });
    await w.settle();
    assert.deepEqual(w.lines(), ["Call ended, 1:01"]);
    assert.deepEqual(w.state.at(-1)?.content, {}, "the ghost left the call");
  });

  it("People → Matrix: a decline rejects the People call; a caller giving up is a missed call", async function () {
    const w = world();
    await w.rtc.ringMatrix(DM, joeRings);
    await w.rtc.handle({ ...ring(), type: "org.matrix.msc4310.rtc.decline", content: {} });
    assert.deepEqual(w.rejected, [{ session: "sess1", reason: "declined" }]);
    assert.deepEqual(w.lines(), ["Call declined"]);
    await w.rtc.ringMatrix(DM, { ...joeRings, session: "sess2" });
    await w.rtc.peopleRingEnded(DM.roomId, "sess2");
    assert.deepEqual(w.lines().at(-1), `Missed call from ${JOE}`);
    assert.equal(w.rtc.callIn(DM.roomId), undefined);
    // Each unanswered call's line has its own transaction key (the homeserver drops a repeated one).
    const keys = w.sent.filter((x) => x.type === "m.room.message").map((x) => x.txnKey);
    assert.equal(new Set(keys).size, 2, keys.join(", "));
  });

  it("an unencrypted room: the ghost joins without media encryption and sends or sets no key, both ways (as Element Call there)", async function () {
    const w = world({ encrypted: false });
    await w.rtc.handle(joined("ALICEDEV"));
    await w.rtc.handle(ring());
    w.rtc.mediaKey(DM.roomId, ALICE, "ALICEDEV", KEY, 0);
    w.legs[0]!.events.emit("remoteSdp", "joe-answer");
    await w.settle();
    await w.settle();
    const lk = w.lks[0]!;
    assert.deepEqual(lk.connected, { url: "wss://lk", jwt: "jwt-for-GHOSTDEV", video: true, e2ee: false });
    assert.deepEqual(lk.keys, [], "no frame key is set on a plain connection");
    assert.deepEqual(w.mediaKeys, [], "no media key goes to Alice");
    assert.equal(w.state[0]!.content.device_id, "GHOSTDEV", "the ghost is in the call all the same");
    await w.rtc.handle(memberEvent("ALICEDEV", undefined));

    await w.rtc.ringMatrix(DM, { ...joeRings, session: "plain2" });
    await w.rtc.handle(joined("ALICEDEV"));
    assert.deepEqual(w.lks[1]!.connected?.e2ee, false);
    assert.deepEqual(w.answered, [{ session: "plain2", sdp: "bridge-answer" }]);
    assert.deepEqual(w.mediaKeys, []);
    assert.deepEqual(w.lks[1]!.keys, []);
  });

  it("the People leg uses the account's ICE servers (its People server's TURN relay), both ways", async function () {
    const w = world();
    await w.rtc.handle(ring());
    assert.deepEqual(w.peers[0]!.o.iceServers, TURN);
    w.legs[0]!.events.emit("ended", { reason: "declined", remote: true });
    await w.settle();
    await w.rtc.ringMatrix(DM, joeRings);
    assert.deepEqual(w.peers[1]!.o.iceServers, TURN);
    assert.equal(w.peers[1]!.o.relayOnly, false, "host candidates too, as People's own calls by default");
    // A server with no relay, or credentials that cannot be had now: host candidates, the call goes on.
    for (const turn of ["none", "fails"] as const) {
      const x = world({ turn });
      await x.rtc.handle(ring());
      assert.deepEqual(x.peers[0]!.o.iceServers, [], turn);
      assert.equal(x.placed.length, 1, turn);
    }
  });

  it("a bridge account's calls capability hands out its People client's ICE servers (GET /_people/v1/turn)", async function () {
    let asked = 0;
    const client = { calls: { iceServers: () => (asked++, Promise.resolve(TURN)) } };
    const calls = clientCalls(client as never);
    assert.deepEqual(await calls.iceServers?.(), TURN);
    assert.equal(asked, 1);
  });

  describe("a call's row (rtc_calls over real SQLite), the ghost's delayed leave, a crash's leftovers", function () {
    let db: BridgeStore;
    const rows = (): RtcCallStore => db.rtcCalls ?? assert.fail("the store has no rtc_calls");
    beforeEach(async function () {
      db = await openBridgeStore({ engine: "sqlite", connection: ":memory:" });
    });
    afterEach(async function () {
      await db.close();
    });

    it("Matrix → People: recorded before Joe's devices ring; the ghost's delayed leave is scheduled before its membership; the end cancels it and deletes the row", async function () {
      const w = world({ store: rows(), delayed: true });
      await w.rtc.handle(joined("ALICEDEV"));
      await w.rtc.handle(ring());
      assert.equal(w.rowsAtPlace[0]?.length, 1, "the row exists when the People call is placed");
      const [row] = await rows().all();
      assert.equal(row?.session, "s0", "the People session recorded once known");
      assert.equal(row?.state, "ringing");
      assert.equal(row?.ghostDevice, undefined);
      w.legs[0]!.events.emit("remoteSdp", "joe-answer");
      for (let i = 0; i < 4; i++) await w.settle();
      const key = memberStateKey(GHOST, "GHOSTDEV");
      assert.deepEqual(w.order, [`leave:${key}`, `member:${key}`]);
      const [active] = await rows().all();
      assert.equal(active?.state, "active");
      assert.equal(active?.ghostDevice, "GHOSTDEV");
      assert.equal(active?.delayId, "delay1");
      assert.equal(active?.answeredAt, 1_000_000);
      await w.rtc.handle(memberEvent("ALICEDEV", undefined));
      assert.deepEqual(w.order.slice(2), [`empty:${key}`, "cancel:delay1"]);
      assert.deepEqual(await rows().all(), [], "both legs ended: the row is gone");
    });

    it("People → Matrix: recorded with Joe's session before the ghost joins; call membership opened to members first when the ghost may", async function () {
      const w = world({
        store: rows(),
        delayed: true,
        levels: { users_default: 0, state_default: 50, users: { [GHOST]: 100 } },
      });
      await w.rtc.ringMatrix(DM, joeRings);
      const key = memberStateKey(GHOST, "GHOSTDEV");
      assert.deepEqual(w.order, ["levels", `leave:${key}`, `member:${key}`]);
      const levels = w.state[0]!.content as { events: Record<string, number> };
      assert.equal(levels.events["org.matrix.msc3401.call.member"], 0);
      const [row] = await rows().all();
      assert.deepEqual(
        {
          session: row?.session,
          direction: row?.direction,
          state: row?.state,
          ghostDevice: row?.ghostDevice,
        },
        { session: "sess1", direction: "to_matrix", state: "ringing", ghostDevice: "GHOSTDEV" },
      );
      await w.rtc.peopleRingEnded(DM.roomId, "sess1");
      assert.deepEqual(await rows().all(), []);
    });

    it("at start, each call a crash cut is ended on both legs with Element's line, and its row deleted", async function () {
      const base = {
        roomId: DM.roomId,
        matrixUser: ALICE,
        peopleAddress: JOE,
        ghost: GHOST,
        media: "voice" as const,
      };
      await rows().put({
        ...base,
        callId: "c1",
        direction: "to_people",
        state: "active",
        session: "sA",
        ghostDevice: "GHOSTDEV",
        delayId: "d1",
        answeredAt: 5,
        createdAt: 1,
      });
      await rows().put({
        ...base,
        callId: "c2",
        direction: "to_matrix",
        state: "ringing",
        session: "sB",
        ghostDevice: "GHOSTDEV",
        createdAt: 2,
      });
      await rows().put({
        ...base,
        callId: "c3",
        direction: "to_people",
        state: "ringing",
        createdAt: 3,
      });
      const ops: string[] = [];
      const lost: [string, string][] = [];
      const ghost: RtcGhostPort = {
        device: () => Promise.resolve("GHOSTDEV"),
        roomEncrypted: () => Promise.resolve(true),
        openIdToken: () => Promise.reject(new Error("not used")),
        sendMediaKey: () => Promise.reject(new Error("not used")),
        setState: (_g, _r, _t, stateKey, content) => {
          ops.push(`state ${stateKey} ${JSON.stringify(content)}`);
          return Promise.resolve("$s");
        },
        send: (_g, _r, _t, content, txnKey) => {
          ops.push(`line ${String(content.body)} ${txnKey}`);
          // A failing step is logged and the others still run.
          return txnKey === "rtc.line.c3" ? Promise.reject(new Error("403")) : Promise.resolve("$l");
        },
        cancelLeave: (_g, id) => {
          ops.push(`cancel ${id}`);
          return Promise.resolve();
        },
      };
      const calls = {
        hangupLost: (to: string, session: string) => {
          lost.push([to, session]);
          return Promise.resolve();
        },
      };
      // A call this start already runs (its offer delivered again) is no leftover.
      await rows().put({
        ...base,
        callId: "live",
        direction: "to_matrix",
        state: "ringing",
        session: "sL",
        createdAt: 4,
      });
      await rows().put({
        ...base,
        callId: "old",
        direction: "to_matrix",
        state: "ringing",
        session: "sL",
        createdAt: 0,
      });
      const live = () => ({ ids: new Set(["live"]), sessions: new Set(["sL"]) });
      const n = await endLeftoverRtcCalls({
        store: rows(),
        ghost,
        people: { accountFor: () => Promise.resolve({ calls } as never) },
        log: silentLog,
        live,
      });
      assert.equal(n, 3);
      const key = memberStateKey(GHOST, "GHOSTDEV");
      assert.deepEqual(ops, [
        `state ${key} {}`,
        "cancel d1",
        "line Call ended rtc.line.sA",
        `state ${key} {}`,
        `line Missed call from ${JOE} rtc.line.sB`,
        `line The call with ${JOE} could not be connected rtc.line.c3`,
      ]);
      assert.deepEqual(lost, [
        [JOE, "sA"],
        [JOE, "sB"],
      ]);
      assert.deepEqual(
        (await rows().all()).map((r) => r.callId),
        ["live"],
        "the running call's row stays; the row it replaced is gone, with nothing sent for it",
      );
      assert.equal(
        await endLeftoverRtcCalls({
          store: rows(),
          ghost,
          people: { accountFor: () => Promise.reject(new Error("x")) },
          log: silentLog,
          live,
        }),
        0,
      );
    });
  });
});
