// MatrixRTC through the bridge in UNENCRYPTED portals, and a first call that makes its portal.
// Element Call encrypts a call's media only in a room with m.room.encryption (element-call
// src/e2ee/sharedKeyManagement.ts: E2eeType.PER_PARTICIPANT there, E2eeType.NONE elsewhere; Element
// Web passes perParticipantE2EE the same way): in a plain room it sends no media keys and its frames
// are not encrypted, so the ghost must join the same way. The same world as
// bridge-matrixrtc.test.ts (real Synapse with Element Call's features, livekit-server, the token
// service stand-in, the bridge with bridge.matrixrtc.enabled, Alice as Element X in Chromium, People
// devices on libwebrtc), with encryption.default off so the portal the bridge makes is plain too.
// Alice calls Joe with video in a DM she made without encryption: tones and video frames both
// ways, no keys, plain frames. Then Kim, with no portal yet, calls Alice: the portal is made and
// rings the MatrixRTC way (the ghost's call membership and ring); Alice joins; tones both ways.
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
const KIM = `kim@${OTHER}`;
const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const ALICE_HZ = 440;
const JOE_HZ = 660;
const KIM_HZ = 880;
/** Enough decoded frames that a stray keyframe cannot pass for a video stream. */
const FRAMES = 10;
const WAIT = Number(process.env.PEOPLE_TEST_RTC_WAIT ?? 120_000);

describe("MatrixRTC through the bridge in unencrypted portals (plain frames, as Element Call there)", function () {
  this.timeout(6 * 60_000);
  let livekit: Livekit | undefined;
  let tokens: LkJwtService | undefined;
  let world: BridgeWorld | undefined;
  let browser: RtcBrowser | undefined;
  let alice: CryptoUser | undefined;
  let focus: LivekitFocus;
  const rings: IncomingCall[] = [];

  const w = (): BridgeWorld => world ?? assert.fail("the world is not started");

  const ghostIdentity = (page: RtcPage, ghost: string) =>
    eventually(
      `${ghost}'s media in Alice's page`,
      async () => Object.keys((await page.state()).remotes).find((id) => id.startsWith(`${ghost}:`)),
      WAIT,
    );

  const lines = (room: Room, ghost: string): string[] =>
    room
      .getLiveTimeline()
      .getEvents()
      .filter((e: MatrixEvent) => e.getSender() === ghost && e.getContent().msgtype === "m.notice")
      .map((e: MatrixEvent) => String(e.getContent().body));

  /** The People device hears Alice's tone and Alice's page hears the device's, through the ghost. */
  async function tonesBothWays(page: RtcPage, ghost: string, peopleCall: Call, peopleHz: number) {
    const hears = new ToneDetector(ALICE_HZ);
    peopleCall.on("audio", (a) => hears.push(a.samples, a.channels));
    const id = await ghostIdentity(page, ghost);
    await Promise.all([
      hearsTone(page, id, peopleHz, WAIT),
      eventually(
        "the People device hears Alice's 440 Hz",
        async () => (hears.found ? true : undefined),
        WAIT,
      ),
    ]).catch(async (e: unknown) => {
      throw new Error(`${String(e)}; Alice's page: ${JSON.stringify(await page.state())}`);
    });
    if (rtcTestMedia() === "passthrough") assertMediaThroughSidecar({ bridgeInProcess: true });
    return id;
  }

  before(async function () {
    this.timeout(40 * 60_000); // a first run installs Synapse and builds livekit-server
    ({ livekit, tokens, world } = await startRtcBridgeWorld());
    await w().startPeopleUser(JOE, { mediaEngine: wrtcEngine });
    await w().startPeopleUser(KIM, { mediaEngine: wrtcEngine });
    w()
      .person(JOE)
      .client.calls.on("incoming", (c) => rings.push(c));
    browser = await startRtcBrowser();
    alice = await startCryptoUser(world.hs, "alice");
    focus = await discoverFocus(world.hs.url);
  });

  afterEach(function () {
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

  it("Alice calls Joe with video in a plain DM: no media keys, plain frames, tones and video both ways; her hangup ends Joe's call", async function () {
    const ghost = ghostOf(JOE);
    const { room_id: roomId } = await alice!.client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [ghost],
      is_direct: true,
    });
    const room = await eventually("Alice's plain DM portal", async () => {
      const r = alice!.client.getRoom(roomId);
      return r?.getMember(ghost)?.membership === "join" ? r : undefined;
    });
    assert.equal(room.hasEncryptionStateEvent(), false);
    const call = new ElementCall(alice!.client, room, browser!);
    const page = await call.join(focus, { toneHz: ALICE_HZ, ring: true, video: true });
    const ring = await eventually("Joe's device rings", async () => rings[0], WAIT);
    assert.equal(ring.from, ALICE_PEOPLE);
    assert.equal(ring.media, "video");
    const joeCall = await w()
      .person(JOE)
      .client.calls.answer(ring.session, { audio: { tone: JOE_HZ } });
    const joeFrames: { width: number; height: number }[] = [];
    joeCall.on("video", (f) => {
      // Decoded I420 frames: the luma plane and two quarter planes.
      if (f.data && f.data.length === (f.width * f.height * 3) / 2) joeFrames.push(f);
    });
    const id = await tonesBothWays(page, ghost, joeCall, JOE_HZ);
    const seen = await page.state();
    assert.equal(seen.e2ee, false, "Alice's page encrypts nothing, as Element Call in a plain room");
    assert.equal(seen.remotes[id]?.encrypted, false, "the ghost's frames arrive unencrypted");
    assert.equal(call.keys.size, 0, "no media key went either way");
    // Video: Alice's fake camera decoded on Joe's device, Joe's test pattern decoded in her page.
    await Promise.all([
      eventually("Alice's camera frames decoded on Joe's device", async () =>
        joeFrames.length >= FRAMES ? true : undefined,
      ),
      eventually("Joe's video decoded in Alice's page", async () =>
        ((await page.state()).remotes[id]?.videoFrames ?? 0) >= FRAMES ? true : undefined,
      ),
    ]).catch(async (e: unknown) => {
      throw new Error(
        `${String(e)}; Joe decoded ${joeFrames.length}; page: ${JSON.stringify(await page.state())}`,
      );
    });
    const at = lines(room, ghost).length;
    await call.hangup();
    assert.equal((await joeCall.whenEnded()).reason, "normal");
    assert.match(
      await eventually("the call's line", async () => lines(room, ghost)[at], WAIT),
      /^Call ended, \d+:\d\d$/,
    );
  });

  it("Kim, with no portal yet, calls Alice: the portal is made and rings the MatrixRTC way; she joins; tones both ways", async function () {
    const ghost = ghostOf(KIM);
    const kimCall = await w()
      .person(KIM)
      .client.calls.call(ALICE_PEOPLE, { media: "voice", audio: { tone: KIM_HZ } });
    // The new portal's invite (the bridge made it for the call), accepted as Element X would.
    const roomId = await eventually(
      "the new portal's invite",
      async () =>
        alice!.client.getRooms().find((r) => r.getMyMembership() === "invite" && r.getMember(ghost) !== null)
          ?.roomId,
    );
    await alice!.client.joinRoom(roomId);
    const room = await eventually("the portal joined", async () => {
      const r = alice!.client.getRoom(roomId);
      return r?.getMyMembership() === "join" ? r : undefined;
    });
    assert.equal(room.hasEncryptionStateEvent(), false, "encryption.default is off: a plain portal");
    await eventually("the ghost's MatrixRTC ring, not an m.call.invite", async () => {
      const events = room.getLiveTimeline().getEvents();
      assert.equal(events.filter((e) => e.getType() === EventType.CallInvite).length, 0);
      const n = events.filter((e) => e.getType() === EventType.RTCNotification && e.getSender() === ghost);
      return n.at(-1)?.getContent().notification_type === "ring" ? true : undefined;
    });
    const call = new ElementCall(alice!.client, room, browser!);
    await eventually("the ghost's call membership", async () =>
      call.session.memberships.some((m) => m.sender === ghost) ? true : undefined,
    );
    const page = await call.join(focus, { toneHz: ALICE_HZ, video: false });
    await kimCall.whenActive();
    await tonesBothWays(page, ghost, kimCall, KIM_HZ);
    const at = lines(room, ghost).length;
    await kimCall.hangup();
    assert.match(
      await eventually("the call's line", async () => lines(room, ghost)[at], WAIT),
      /^Call ended, \d+:\d\d$/,
    );
    await call.hangup();
  });
});
