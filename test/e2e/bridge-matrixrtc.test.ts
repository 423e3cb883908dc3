// The MatrixRTC wiring end to end: a real Synapse with what Element Call needs, livekit-server
// v1.11.0, the lk-jwt-service stand-in, the bridge in this process with bridge.matrixrtc.enabled
// and encryption.allow, Joe's People device (libwebrtc, a 660 Hz tone) on the second People
// server, and Alice as Element X: matrix-js-sdk's MatrixRTCSession with Rust crypto in this
// process (membership, ring, media keys as Olm to-device) and livekit-client in headless Chromium
// (a 440 Hz tone, the fake camera, per-participant E2EE). Alice calls Joe, then Joe calls Alice;
// tones are detected both ways and each hangup ends the other leg and leaves the line. The tests
// run in order and share the portal. Every wait is for a condition.
import assert from "node:assert/strict";
import { EventType, Preset, type MatrixEvent, type Room } from "matrix-js-sdk";
import { ToneDetector } from "../../src/people/client/calls/audio.js";
import type { Call, IncomingCall } from "../../src/people/client/calls/calls.js";
import { wrtcEngine } from "../../src/people/client/calls/wrtc-engine.js";
import { startCryptoUser, type CryptoUser } from "../helpers/crypto-user.js";
import { discoverFocus, ElementCall, type LivekitFocus } from "../helpers/element-call-user.js";
import type { Livekit } from "../helpers/livekit.js";
import type { LkJwtService } from "../helpers/lk-jwt-service.js";
import { startRtcBrowser, type RtcBrowser, type RtcPage } from "../helpers/rtc-browser.js";
import { eventually, hearsTone } from "../helpers/rtc-world.js";
import { rtcTestMedia, startRtcBridgeWorld } from "../helpers/rtc-bridge-world.js";
import { assertMediaThroughSidecar } from "../helpers/rtc-relay.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf } from "../helpers/bridge-world.js";

const JOE = `joe@${OTHER}`;
const GHOST = ghostOf(JOE);
const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const ALICE_HZ = 440;
const JOE_HZ = 660;
/** Enough decoded frames that a stray keyframe cannot pass for a video stream. */
const VIDEO_FRAMES = 10;
const WAIT = Number(process.env.PEOPLE_TEST_RTC_WAIT ?? 120_000);

describe("MatrixRTC through the bridge: Element Call (Chromium) ⇄ ghost ⇄ People device", function () {
  this.timeout(6 * 60_000);
  let livekit: Livekit | undefined;
  let tokens: LkJwtService | undefined;
  let world: BridgeWorld | undefined;
  let browser: RtcBrowser | undefined;
  let alice: CryptoUser | undefined;
  let room: Room;
  let focus: LivekitFocus;
  let call: ElementCall;
  const rings: IncomingCall[] = [];

  const w = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const joe = () => w().person(JOE).client;

  /** The ghost's LiveKit identity as Alice's page sees it, once its media arrives. */
  const ghostIdentity = (page: RtcPage) =>
    eventually(
      "the ghost's media in Alice's page",
      async () => Object.keys((await page.state()).remotes).find((id) => id.startsWith(`${GHOST}:`)),
      WAIT,
    );

  /** The ghost's notices in the portal (the call lines), newest last. */
  const lines = (): string[] =>
    room
      .getLiveTimeline()
      .getEvents()
      .filter((e: MatrixEvent) => e.getSender() === GHOST && e.getContent().msgtype === "m.notice")
      .map((e: MatrixEvent) => String(e.getContent().body));

  const nextLine = (after: number) => eventually("the call's line", async () => lines()[after], WAIT);

  /** Joe's device hears Alice's tone and Alice's page hears Joe's. */
  async function tonesBothWays(page: RtcPage, joeCall: Call): Promise<void> {
    const joeHears = new ToneDetector(ALICE_HZ);
    joeCall.on("audio", (a) => joeHears.push(a.samples, a.channels));
    const ghost = await ghostIdentity(page);
    await Promise.all([
      hearsTone(page, ghost, JOE_HZ, WAIT),
      eventually("Joe hears Alice's 440 Hz", async () => (joeHears.found ? true : undefined), WAIT),
    ]).catch(async (e: unknown) => {
      throw new Error(`${String(e)}; Alice's page: ${JSON.stringify(await page.state())}`);
    });
    assert.ok((await page.state()).remotes[ghost]?.encrypted, "the ghost's frames arrive encrypted");
    if (rtcTestMedia() === "passthrough") assertMediaThroughSidecar({ bridgeInProcess: true });
  }

  before(async function () {
    this.timeout(40 * 60_000); // a first run installs Synapse and builds livekit-server
    ({ livekit, tokens, world } = await startRtcBridgeWorld());
    await w().startPeopleUser(JOE, { mediaEngine: wrtcEngine });
    joe().calls.on("incoming", (c) => rings.push(c));
    browser = await startRtcBrowser();
    alice = await startCryptoUser(world.hs, "alice");
    const { room_id: roomId } = await alice.client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [GHOST],
      is_direct: true,
      // As Element X makes DMs: encrypted (its crypto then tracks the ghost's devices, which the
      // media keys go to).
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    room = await eventually("Alice's DM portal", async () => {
      const r = alice!.client.getRoom(roomId);
      return r?.getMember(GHOST)?.membership === "join" ? r : undefined;
    });
    focus = await discoverFocus(world.hs.url);
    call = new ElementCall(alice.client, room, browser);
  });

  afterEach(function () {
    // A failure shows what the bridge's MatrixRTC side did.
    if (this.currentTest?.state !== "failed" || !world) return;
    for (const l of w().bridge.logs.lines)
      if (/rtc|call|key/i.test(`${l.msg} ${JSON.stringify(l)}`.slice(0, 400)))
        process.stderr.write(`[bridge] ${JSON.stringify(l).slice(0, 600)}\n`);
  });

  after(async function () {
    alice?.client.stopClient();
    await browser?.close();
    await world?.stop();
    await tokens?.stop();
    await livekit?.stop();
  });

  it("Alice calls Joe: the ghost joins, Joe's device answers, tones both ways; Alice's hangup ends Joe's call", async function () {
    const page = await call.join(focus, { toneHz: ALICE_HZ, ring: true, video: false });
    const ring = await eventually("Joe's device rings", async () => rings[0], WAIT);
    assert.equal(ring.from, ALICE_PEOPLE);
    const joeCall = await joe().calls.answer(ring.session, { audio: { tone: JOE_HZ } });
    // The ghost joined as an Element Call participant: its membership from its own device.
    await eventually("the ghost's call membership", async () =>
      call.session.memberships.some((m) => m.sender === GHOST) ? true : undefined,
    );
    await tonesBothWays(page, joeCall);
    assert.ok(
      [...call.keys.keys()].some((id) => id.startsWith(`${GHOST}:`)),
      "the ghost's media key reached Alice over Olm",
    );
    const at = lines().length;
    await call.hangup();
    assert.equal((await joeCall.whenEnded()).reason, "normal");
    assert.match(await nextLine(at), /^Call ended, \d+:\d\d$/);
    await eventually("the ghost left the call", async () =>
      call.session.memberships.some((m) => m.sender === GHOST) ? undefined : true,
    );
  });

  it("Joe calls Alice: the ghost's ring reaches her client, she joins, tones both ways; Joe hangs up", async function () {
    const ringsBefore = room
      .getLiveTimeline()
      .getEvents()
      .filter((e) => e.getType() === EventType.RTCNotification && e.getSender() === GHOST).length;
    const joeCall = await joe().calls.call(ALICE_PEOPLE, { media: "voice", audio: { tone: JOE_HZ } });
    await eventually("the ghost's ring in Alice's client", async () => {
      const n = room
        .getLiveTimeline()
        .getEvents()
        .filter((e) => e.getType() === EventType.RTCNotification && e.getSender() === GHOST);
      return n.length > ringsBefore && n.at(-1)?.getContent().notification_type === "ring" ? true : undefined;
    });
    const page = await call.join(focus, { toneHz: ALICE_HZ, video: false });
    await joeCall.whenActive();
    await tonesBothWays(page, joeCall);
    const at = lines().length;
    await joeCall.hangup();
    assert.match(await nextLine(at), /^Call ended, \d+:\d\d$/);
    await eventually("the ghost left the call", async () =>
      call.session.memberships.some((m) => m.sender === GHOST) ? undefined : true,
    );
    await call.hangup();
  });

  it("Joe calls Alice: her decline ends Joe's call; Joe giving up before she answers is a missed call", async function () {
    const ringCount = () =>
      room
        .getLiveTimeline()
        .getEvents()
        .filter((e) => e.getType() === EventType.RTCNotification && e.getSender() === GHOST);
    let before = ringCount().length;
    let at = lines().length;
    const declined = await joe().calls.call(ALICE_PEOPLE, { media: "voice", audio: { tone: JOE_HZ } });
    const ring = await eventually("the ghost's ring", async () => ringCount()[before], WAIT);
    // Element X's decline: an MSC4310 event referring to the ring.
    await alice!.client.sendEvent(
      room.roomId,
      "org.matrix.msc4310.rtc.decline" as never,
      {
        "m.relates_to": { rel_type: "m.reference", event_id: ring.getId() },
      } as never,
    );
    assert.equal((await declined.whenEnded()).reason, "declined");
    assert.equal(await nextLine(at), "Call declined");
    before = ringCount().length;
    at = lines().length;
    const missed = await joe().calls.call(ALICE_PEOPLE, { media: "voice", audio: { tone: JOE_HZ } });
    await eventually("the ghost's ring again", async () => ringCount()[before], WAIT);
    await missed.hangup();
    assert.equal(await nextLine(at), `Missed call from ${JOE}`);
    await eventually("the ghost left the call", async () =>
      call.session.memberships.some((m) => m.sender === GHOST) ? undefined : true,
    );
  });

  it("Alice calls Joe with video: her camera's frames decode on Joe's device and Joe's in her page, through the ghost's encrypted leg; her first key to the ghost lost, it asks again", async function () {
    const before = rings.length;
    // Her key's first way to the ghost is lost (Synapse can lose a to-device message crossing
    // another on its way to an appservice): the ghost asks again by announcing its membership anew.
    call.dropKeySends = 1;
    const page = await call.join(focus, { toneHz: ALICE_HZ, ring: true, video: true });
    const ring = await eventually("Joe's device rings", async () => rings[before], WAIT);
    assert.equal(ring.media, "video");
    const joeCall = await joe().calls.answer(ring.session, { audio: { tone: JOE_HZ } });
    const joeFrames: { width: number; height: number }[] = [];
    const joeHears = new ToneDetector(ALICE_HZ);
    joeCall.on("audio", (a) => joeHears.push(a.samples, a.channels));
    joeCall.on("video", (f) => {
      // Decoded I420 frames: the luma plane and two quarter planes.
      if (f.data && f.data.length === (f.width * f.height * 3) / 2) joeFrames.push(f);
    });
    const ghost = await ghostIdentity(page);
    await Promise.all([
      eventually(
        "Alice's camera frames decoded on Joe's device",
        async () => (joeFrames.length >= VIDEO_FRAMES ? true : undefined),
        WAIT,
      ),
      eventually(
        "Joe's video decoded in Alice's page",
        async () =>
          ((await page.state()).remotes[ghost]?.videoFrames ?? 0) >= VIDEO_FRAMES ? true : undefined,
        WAIT,
      ),
    ]).catch(async (e: unknown) => {
      throw new Error(
        `${String(e)}; Joe decoded ${joeFrames.length}, heard Alice: ${joeHears.found}; Alice's key sends: ${call.sent.join("; ")}; page: ${JSON.stringify(await page.state())}`,
      );
    });
    assert.ok((await page.state()).remotes[ghost]?.encrypted, "the ghost's frames arrive encrypted");
    assert.equal(call.dropKeySends, 0, "her first key to the ghost was dropped");
    assert.ok(
      w().bridge.logs.lines.some((l) => /announces its membership again/.test(String(l.msg))),
      "the ghost asked again for her key",
    );
    const at = lines().length;
    await call.hangup();
    assert.equal((await joeCall.whenEnded()).reason, "normal");
    assert.match(await nextLine(at), /^Call ended, \d+:\d\d$/);
  });
});
