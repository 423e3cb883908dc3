// A MatrixRTC call bridged to a People call with every part real but the Matrix homeserver:
// RtcCalls and RtcCall as the bridge runs them, the bridge-held People account (a signalling-only
// PeopleClient through the bridge's clientCalls capability) on a real People server, Joe's People
// device (PeopleClient with libwebrtc) on another, a real livekit-server with per-participant E2EE,
// the people-rtc-relay sidecar (bridge.matrixrtc.media's default, passthrough: the ghost's LiveKit
// leg, the relay and the People leg in the Go process, Opus and VP8 frames as they come), and
// Alice's Element X stand-in as an rtc-node participant
// (the browser and Synapse are test/e2e). The ghost's Matrix actions are recorded; its media key
// reaches Alice's stand-in directly where Olm would carry it. Tones both ways (Goertzel), video
// frames both ways, hangup from each side, decline and no answer, both directions; the sidecar's
// counts show it carried the frames and the bridge's own transcode stacks were never loaded; the
// sidecar SIGKILLed mid-call ends the call on both sides and the next call gets a new one.
// (The transcode path is test/integration/rtc-media-relay.test.ts.)
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { AccessToken } from "livekit-server-sdk";
import { clientCalls } from "../../src/bridge/adapters/accounts/client-calls.js";
import { callMediaModes, type CallMediaModes } from "../../src/bridge/adapters/rtc/media-mode.js";
import { RelayCallMedia } from "../../src/bridge/adapters/rtc/relay-call.js";
import { transcodeMedia } from "../../src/bridge/adapters/rtc/transcode-media.js";
import { LivekitLeg } from "../../src/bridge/adapters/rtc/livekit-leg.js";
import type { RtcGhostPort } from "../../src/bridge/adapters/rtc/rtc-call-ports.js";
import { RtcCalls, type RtcRoomEvent } from "../../src/bridge/adapters/rtc/rtc-calls.js";
import type { Portal } from "../../src/bridge/core/ports/store.js";
import { ToneDetector, toneFrames } from "../../src/people/client/calls/audio.js";
import type { Call, IncomingCall } from "../../src/people/client/calls/calls.js";
import { wrtcEngine } from "../../src/people/client/calls/wrtc-engine.js";
import { PeopleClient } from "../../src/people/client/people-client.js";
import { parseAddress } from "../../src/people/protocol/address.js";
import { silentLog } from "../helpers/portal-fakes.js";
import { clientOptions, networkOf, removeTempDirs, tempDir, waitUntil } from "../helpers/client-fixtures.js";
import { startLivekit, type Livekit } from "../helpers/livekit.js";
import { startLinkedServers, type TestServer } from "../helpers/people-servers.js";
import { eventually } from "../helpers/rtc-world.js";
import { ensureRtcRelayBuilt } from "../helpers/rtc-relay.js";

const WAIT = 90_000;
const ALICE = "@alice:hs.test";
const ALICE_DEVICE = "ALICEDEV";
const ALICE_ID = `${ALICE}:${ALICE_DEVICE}`;
const JOE = parseAddress("joe@b.test");
const GHOST = "@_people_joe=40b.test:hs.test";
const GHOST_ID = `${GHOST}:GHOSTDEV`;
const FOCUS = { type: "livekit" as const, livekit_service_url: "https://lk.hs.test" };

function pattern(n: number): { width: number; height: number; data: Uint8Array } {
  const [w, h] = [320, 240];
  const data = new Uint8Array((w * h * 3) / 2).fill(90);
  const x0 = (n * 6) % w;
  for (let y = 0; y < h; y++) data.fill(220, y * w + x0, y * w + Math.min(w, x0 + 20));
  return { width: w, height: h, data };
}

/** Alice's Element X stand-in in the LiveKit room: a 440 Hz tone, a camera, what she gets from the ghost. */
class AliceMedia {
  readonly leg = new LivekitLeg();
  readonly hears = new ToneDetector(660);
  frames = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  constructor(readonly key: Uint8Array) {
    this.leg.on("audio", (id, pcm) => {
      if (id === GHOST_ID) this.hears.push(pcm);
    });
    this.leg.on("video", (id) => {
      if (id === GHOST_ID) this.frames++;
    });
  }
  async join(lk: Livekit, room: string): Promise<void> {
    const t = new AccessToken(lk.apiKey, lk.apiSecret, { identity: ALICE_ID, ttl: "10m" });
    t.addGrant({ room, roomJoin: true, canPublish: true, canSubscribe: true });
    await this.leg.connect(lk.wsUrl, await t.toJwt(), { video: true });
    this.leg.setKey(ALICE_ID, this.key, 0);
    const tone = toneFrames(440);
    let n = 0;
    this.timers.push(
      setInterval(() => void this.leg.sendPcm(tone()).catch(() => undefined), 10),
      setInterval(() => this.leg.sendVideo(pattern(n++)), 66),
    );
  }
  async leave(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.leg.close();
  }
}

describe("MatrixRTC ⇄ People call through RtcCalls (real People servers, LiveKit, libwebrtc)", function () {
  this.timeout(5 * 60_000);
  let lk: Livekit;
  let servers: TestServer[] = [];
  let joe: PeopleClient;
  let bridgeAccount: PeopleClient;
  let rtc: RtcCalls;
  let portal: Portal;
  let n = 0;
  const lines: string[] = [];
  const rings: { type: string; content: Record<string, unknown> }[] = [];
  const members: { stateKey: string; content: Record<string, unknown> }[] = [];
  const joeRings: IncomingCall[] = [];
  let alice: AliceMedia | undefined;
  let modes: CallMediaModes;
  let transcodeLoaded = false;

  const memberEvent = (content: Record<string, unknown>): RtcRoomEvent => ({
    roomId: portal.roomId,
    eventId: `$member${++n}`,
    sender: ALICE,
    type: "org.matrix.msc3401.call.member",
    stateKey: `_${ALICE}_${ALICE_DEVICE}_m.call`,
    content,
  });
  const aliceJoins = () =>
    rtc.handle(
      memberEvent({
        application: "m.call",
        call_id: "",
        scope: "m.room",
        device_id: ALICE_DEVICE,
        focus_active: { type: "livekit", focus_selection: "oldest_membership" },
        foci_preferred: [FOCUS],
        "m.call.intent": "video",
      }),
    );
  const aliceLeaves = () => rtc.handle(memberEvent({}));
  const aliceRings = (lifetime = 60_000) =>
    rtc.handle({
      roomId: portal.roomId,
      eventId: `$ring${++n}`,
      sender: ALICE,
      type: "org.matrix.msc4075.rtc.notification",
      content: {
        notification_type: "ring",
        "m.mentions": { user_ids: [GHOST] },
        "m.call.intent": "video",
        lifetime,
      },
    });
  const lineCount = () => lines.length;
  const nextLine = async (after: number) => eventually("the call's line", async () => lines[after], WAIT);

  before(async function () {
    this.timeout(40 * 60_000); // the first run builds livekit-server
    lk = await startLivekit();
    modes = callMediaModes({
      mode: "passthrough",
      binary: await ensureRtcRelayBuilt(),
      loadTranscode: () => {
        transcodeLoaded = true;
        return Promise.resolve(
          transcodeMedia({ newLeg: () => new LivekitLeg(), createPeer: (o) => wrtcEngine.createPeer(o) }),
        );
      },
      log: silentLog,
    });
    servers = await startLinkedServers(["a.test", "b.test"]);
    const net = networkOf(servers);
    joe = await PeopleClient.create({
      ...clientOptions(net, tempDir("joe")),
      address: JOE,
      mediaEngine: wrtcEngine,
    });
    joe.calls.on("incoming", (c) => joeRings.push(c));
    await joe.start();
    // The bridge's account for Alice: signalling only, as the bridge holds it.
    bridgeAccount = await PeopleClient.create({
      ...clientOptions(net, tempDir("alice")),
      address: "alice@a.test",
    });
    await bridgeAccount.start();
    const calls = clientCalls(bridgeAccount);
    const ghost: RtcGhostPort = {
      device: () => Promise.resolve("GHOSTDEV"),
      roomEncrypted: () => Promise.resolve(true),
      openIdToken: () => Promise.resolve({ access_token: "unused" }),
      setState: (_g, _r, _t, stateKey, content) => {
        members.push({ stateKey, content });
        return Promise.resolve(`$state${members.length}`);
      },
      send: (_g, _r, type, content) => {
        if (type === "m.room.message") lines.push(String(content.body));
        else rings.push({ type, content });
        return Promise.resolve(`$sent${++n}`);
      },
      // Where Olm would carry it: the ghost's key reaches Alice's media.
      sendMediaKey: (_g, _r, targets, key) => {
        assert.deepEqual(targets, [{ userId: ALICE, deviceId: ALICE_DEVICE }]);
        alice?.leg.setKey(GHOST_ID, key.key, key.index);
        return Promise.resolve();
      },
    };
    portal = { roomId: "!dm:hs.test", matrixUser: ALICE, peopleAddress: JOE, createdAt: 1 };
    rtc = new RtcCalls({
      ghost,
      media: {
        ...modes.ports,
        token: async ({ roomId, deviceId }) => {
          const t = new AccessToken(lk.apiKey, lk.apiSecret, {
            identity: `${GHOST}:${deviceId}`,
            ttl: "10m",
          });
          t.addGrant({ room: roomId, roomJoin: true, canPublish: true, canSubscribe: true });
          return { url: lk.wsUrl, jwt: await t.toJwt() };
        },
        newKey: () => randomBytes(16),
      },
      people: { accountFor: () => Promise.resolve({ calls } as never) },
      dms: { byRoom: (id) => Promise.resolve(id === portal.roomId ? portal : undefined) },
      isGroupRoom: () => Promise.resolve(false),
      ghostOf: () => GHOST as never,
      focus: () => Promise.resolve(FOCUS),
      tell: () => Promise.resolve(),
      log: silentLog,
    });
    // The bridge's People → Matrix hooks (its calls flow hands rings and their ends over).
    bridgeAccount.calls.on("incoming", (c) => {
      const ring = calls.ringing(c.session);
      if (ring) void rtc.ringMatrix(portal, ring);
    });
    bridgeAccount.calls.on("ringingEnded", (e) => void rtc.peopleRingEnded(portal.roomId, e.session));
  });

  afterEach(async () => {
    await alice?.leave();
    alice = undefined;
    await rtc?.stop();
    for (const c of joe?.calls.calls() ?? []) await c.hangup();
  });

  after(async () => {
    await joe?.close().catch(() => undefined);
    await bridgeAccount?.close().catch(() => undefined);
    for (const s of servers) await s.stop();
    await modes?.stop();
    await lk?.stop();
    removeTempDirs();
  });

  /** Alice's media in the room with her key handed to the ghost as Olm would. */
  async function aliceMedia(): Promise<AliceMedia> {
    const a = new AliceMedia(randomBytes(16));
    alice = a;
    await a.join(lk, portal.roomId);
    rtc.mediaKey(portal.roomId, ALICE, ALICE_DEVICE, a.key, 0);
    return a;
  }

  /** Joe's device hears 440 Hz and sees frames; Alice hears 660 Hz and sees frames. */
  async function mediaBothWays(a: AliceMedia, call: Call): Promise<void> {
    const joeHears = new ToneDetector(440);
    let joeFrames = 0;
    call.on("audio", (x) => joeHears.push(x.samples, x.channels));
    call.on("video", () => joeFrames++);
    await Promise.all([
      eventually("Joe hears Alice's 440 Hz", async () => (joeHears.found ? true : undefined), WAIT),
      eventually("Alice hears Joe's 660 Hz", async () => (a.hears.found ? true : undefined), WAIT),
      eventually("video frames at Joe", async () => (joeFrames > 10 ? true : undefined), WAIT),
      eventually("video frames at Alice", async () => (a.frames > 10 ? true : undefined), WAIT),
    ]);
    // Through the sidecar, frames as they came: it counted them; the bridge decoded nothing.
    const media = rtc.callIn(portal.roomId)?.media;
    assert.ok(media instanceof RelayCallMedia, "the call's media is in the sidecar");
    const s = await media.stats();
    for (const [way, n] of Object.entries({ ...s.toPeople, ...s.toMatrix }))
      assert.ok(n > 0, `${way}: the sidecar carried frames (${JSON.stringify(s)})`);
    assert.ok(s.toPeople.video > 0 && s.toMatrix.video > 0 && s.toPeople.audio > 0 && s.toMatrix.audio > 0);
    assert.equal(modes.mode(), "passthrough");
    assert.equal(transcodeLoaded, false, "rtc-node and libwebrtc were never loaded by the bridge's calls");
  }

  /** Alice rings Joe; Joe's device answers with its 660 Hz tone. */
  async function aliceCallsJoe(): Promise<{ a: AliceMedia; call: Call }> {
    await aliceJoins();
    const a = await aliceMedia();
    const before = joeRings.length;
    await aliceRings();
    await waitUntil(() => joeRings.length > before, "Joe's device rings", WAIT);
    const ring = joeRings.at(-1)!;
    assert.equal(ring.from, "alice@a.test");
    assert.equal(ring.media, "video");
    const call = await joe.calls.answer(ring.session, { audio: { tone: 660 } });
    return { a, call };
  }

  it("Alice calls Joe: tones and video both ways; Alice hanging up ends Joe's call and leaves the line", async function () {
    const { a, call } = await aliceCallsJoe();
    await mediaBothWays(a, call);
    assert.equal(members.at(-1)?.content.device_id, "GHOSTDEV", "the ghost joined the call");
    const at = lineCount();
    await aliceLeaves();
    assert.equal((await call.whenEnded()).reason, "normal");
    assert.match(await nextLine(at), /^Call ended, \d+:\d\d$/);
    assert.deepEqual(members.at(-1)?.content, {}, "the ghost left the call");
  });

  it("Alice calls Joe: Joe hanging up ends the ghost's side", async function () {
    const { a, call } = await aliceCallsJoe();
    await mediaBothWays(a, call);
    const at = lineCount();
    await call.hangup();
    assert.match(await nextLine(at), /^Call ended, \d+:\d\d$/);
    await eventually("the ghost left the call", async () =>
      members.at(-1)?.content.device_id ? undefined : true,
    );
    assert.equal(rtc.callIn(portal.roomId), undefined);
  });

  it("Alice calls Joe: Joe declining, or nobody answering, leaves its line", async function () {
    await aliceJoins();
    let at = lineCount();
    let before = joeRings.length;
    await aliceRings();
    await waitUntil(() => joeRings.length > before, "Joe's device rings", WAIT);
    await joe.calls.reject(joeRings.at(-1)!.session);
    assert.equal(await nextLine(at), `${JOE} declined the call`);
    at = lineCount();
    before = joeRings.length;
    await aliceRings(3_000);
    await waitUntil(() => joeRings.length > before, "Joe's device rings again", WAIT);
    assert.equal(await nextLine(at), `${JOE} did not answer`);
  });

  it("Joe calls Alice: the ghost rings in Matrix; Alice joining answers; tones and video both ways; hangup both ways", async function () {
    for (const hangupBy of ["joe", "alice"] as const) {
      const ringsBefore = rings.length;
      const call = await joe.calls.call("alice@a.test", { media: "video", audio: { tone: 660 } });
      const ring = await eventually("the ghost's ring", async () => rings[ringsBefore], WAIT);
      assert.equal(ring.type, "org.matrix.msc4075.rtc.notification");
      assert.deepEqual(ring.content["m.mentions"], { user_ids: [ALICE], room: false });
      const a = await aliceMedia();
      await aliceJoins();
      await call.whenActive();
      await mediaBothWays(a, call);
      const at = lineCount();
      if (hangupBy === "joe") await call.hangup();
      else {
        await aliceLeaves();
        assert.equal((await call.whenEnded()).reason, "normal");
      }
      assert.match(await nextLine(at), /^Call ended, \d+:\d\d$/);
      await a.leave();
      alice = undefined;
    }
  });

  it("Joe calls Alice: a decline ends Joe's call; Joe giving up is a missed call", async function () {
    let at = lineCount();
    let ringsBefore = rings.length;
    const declined = await joe.calls.call("alice@a.test", { media: "video", audio: { tone: 660 } });
    await eventually("the ghost's ring", async () => rings[ringsBefore], WAIT);
    await rtc.handle({
      roomId: portal.roomId,
      eventId: `$decline${++n}`,
      sender: ALICE,
      type: "org.matrix.msc4310.rtc.decline",
      content: { "m.relates_to": { rel_type: "m.reference", event_id: "$sent1" } },
    });
    assert.equal((await declined.whenEnded()).reason, "declined");
    assert.equal(await nextLine(at), "Call declined");
    at = lineCount();
    ringsBefore = rings.length;
    const missed = await joe.calls.call("alice@a.test", { media: "video", audio: { tone: 660 } });
    await eventually("the ghost's ring", async () => rings[ringsBefore], WAIT);
    await missed.hangup();
    assert.equal(await nextLine(at), `Missed call from ${JOE}`);
  });

  it("the sidecar SIGKILLed mid-call: both sides see the call end, and the next call works through a new sidecar", async function () {
    const { a, call } = await aliceCallsJoe();
    await mediaBothWays(a, call);
    const pid = modes.relay?.pid;
    assert.ok(pid !== undefined);
    const starts = modes.relay!.starts;
    const at = lineCount();
    process.kill(pid, "SIGKILL");
    assert.equal((await call.whenEnded()).reason, "normal", "Joe's call ends");
    assert.match(await nextLine(at), /^Call ended, \d+:\d\d$/);
    await eventually("the ghost left the call", async () =>
      members.at(-1)?.content.device_id ? undefined : true,
    );
    assert.equal(rtc.callIn(portal.roomId), undefined);
    await a.leave();
    alice = undefined;
    const next = await aliceCallsJoe();
    await mediaBothWays(next.a, next.call);
    assert.equal(modes.relay!.starts, starts + 1, "a new sidecar");
    assert.notEqual(modes.relay!.pid, pid);
  });
});
