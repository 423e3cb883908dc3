// Element's 1:1 calls through the bridge, against the real thing: a real
// Synapse, the bridge as a child process (so its sockets can be counted from
// /proc), a second real People server, and two real WebRTC stacks: Alice is
// headless Chromium running matrix-js-sdk's MatrixCall (a WebAudio tone as her
// microphone, Chromium's fake camera), Joe a People device with libwebrtc
// (@roamhq/wrtc) sending another tone. Each side must hear the other's tone;
// the bridge passes the signalling only and opens no UDP socket. The same
// calls run again in an encrypted DM portal with Ann (another People device
// on libwebrtc: one DM portal per pair), where Alice's browser sends and
// reads the m.call.* events Megolm-encrypted (its Rust crypto) and the bridge
// decrypts and encrypts them as its ghosts do. Every wait is for a condition;
// the tests run in order and share the portals.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { Preset } from "matrix-js-sdk";
import { audioOnlyText } from "../../src/bridge/calls/call-context.js";
import { ToneDetector } from "../../src/people/client/calls/audio.js";
import type { Call, IncomingCall } from "../../src/people/client/calls/calls.js";
import { wrtcEngine } from "../../src/people/client/calls/wrtc-engine.js";
import { BrowserAlice, CHROMIUM, type AliceStatus } from "../helpers/browser-call.js";
import { eventually, matrixApi, type MatrixUser } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf, type PeopleUser } from "../helpers/bridge-world.js";
import { udpSocketsOf } from "../helpers/udp-census.js";

const JOE = `joe@${OTHER}`;
const ANN = `ann@${OTHER}`;
const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const ALICE_HZ = 440;
const JOE_HZ = 1000;
const WAIT = 60_000;
const MEGOLM = { algorithm: "m.megolm.v1.aes-sha2" };

type Json = Record<string, unknown>;

describe("Element's 1:1 calls bridged to a People device (Chromium ↔ bridge ↔ libwebrtc)", function () {
  this.timeout(300_000);
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let joe: PeopleUser | undefined;
  let browser: BrowserAlice | undefined;
  let portal: string;
  let encryptedPortal: string;
  const rings: IncomingCall[] = [];
  let ann: PeopleUser | undefined;
  const annRings: IncomingCall[] = [];
  const stopped: { session: string; reason: string }[] = [];
  /** The most UDP sockets the bridge process held at any census during a call. */
  let bridgeUdpMax = 0;

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const page = (): BrowserAlice => browser ?? assert.fail("no browser");
  const joeClient = () => (joe ?? assert.fail("joe not started")).client;
  const annClient = () => (ann ?? assert.fail("ann not started")).client;

  const census = () => {
    const pid = started().child.pid ?? assert.fail("the bridge is not running");
    bridgeUdpMax = Math.max(bridgeUdpMax, udpSocketsOf(pid));
  };

  /** Alice's call status once `check` holds (the page's view, polled). */
  const aliceWhen = (what: string, check: (s: AliceStatus) => boolean, ms = WAIT) =>
    eventually(
      `Alice: ${what}`,
      async () => {
        census();
        const s = await page().status();
        return check(s) ? s : undefined;
      },
      ms,
    ).catch(async (e: unknown) => {
      throw new Error(
        `${String(e)}; page: ${JSON.stringify(await page().status())}; ${page().console.join(" | ")}`,
      );
    });

  const ringAtJoe = (n: number) => eventually(`Joe's device to ring (${n})`, () => rings[n - 1], WAIT);
  const ringAtAnn = (n: number) => eventually(`Ann's device to ring (${n})`, () => annRings[n - 1], WAIT);

  /** The portal's latest events, newest first, as the homeserver holds them. */
  async function portalEvents(): Promise<{ type: string; sender: string; content: Json }[]> {
    const res = await matrixApi(
      started().hs,
      alice!.accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(portal)}/messages?dir=b&limit=50`,
    );
    return res.chunk as { type: string; sender: string; content: Json }[];
  }

  /** What Joe's call receives: the tone detector (Goertzel) and the video frames. */
  function listen(call: Call) {
    const heard = { tone: new ToneDetector(ALICE_HZ), frames: 0 };
    call.on("audio", (a) => heard.tone.push(a.samples, a.channels));
    call.on("video", () => heard.frames++);
    return heard;
  }

  /** A call from a People device to Alice, once it rings in her Element; the Matrix call id is its id. */
  async function ringAlice(
    from: () => PeopleUser["client"],
    who: string,
    options: Parameters<PeopleUser["client"]["calls"]["call"]>[1],
  ): Promise<{ call: Call; callId: string }> {
    const before = (await page().status()).incoming.length;
    const call = await from().calls.call(ALICE_PEOPLE, options);
    const ringing = await aliceWhen(`${who}'s call rings`, (s) => s.incoming.length > before);
    return { call, callId: ringing.incoming.at(-1)! };
  }

  /**
   * An answered call, both ways: connected at Alice and at the device, each side hears the other's
   * tone; with `video.atDevice` Alice's camera frames reach the device, with `video.atAlice` the
   * device's frames reach her.
   */
  async function bothWays(
    call: Call,
    heard: ReturnType<typeof listen>,
    callId: string,
    who: string,
    video: { atDevice?: boolean; atAlice?: boolean } = {},
  ): Promise<void> {
    await aliceWhen("connected", (s) => s.callId === callId && s.state === "connected");
    await call.whenActive();
    await aliceWhen(
      video.atAlice ? `${who}'s tone heard and their video frames` : `${who}'s tone heard`,
      (s) => s.callId === callId && s.heard && (!video.atAlice || s.videoFrames >= 10),
    );
    await eventually(
      video.atDevice ? `Alice's tone and video frames at ${who}` : `Alice's tone at ${who}`,
      () => {
        census();
        return heard.tone.found && (!video.atDevice || heard.frames >= 10) ? true : undefined;
      },
      WAIT,
    );
  }

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    if (!existsSync(CHROMIUM)) assert.fail(`${CHROMIUM} is missing: .ci/run installs Debian's chromium`);
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user" },
      childProcess: true,
      configure: (i) => ({ ...i, encryption: { allow: true, default: false } }),
    });
    joe = await world.startPeopleUser(JOE, { mediaEngine: wrtcEngine });
    joeClient().calls.on("incoming", (c) => rings.push(c));
    joeClient().calls.on("ringingEnded", (e) => stopped.push(e));
    ann = await world.startPeopleUser(ANN, { mediaEngine: wrtcEngine });
    annClient().calls.on("incoming", (c) => annRings.push(c));
    alice = await world.startMatrixUser("alice");
    const { room_id: roomId } = await alice.client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [ghostOf(JOE)],
      is_direct: true,
    });
    portal = roomId;
    const encrypted = await alice.client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [ghostOf(ANN)],
      is_direct: true,
      initial_state: [{ type: "m.room.encryption", state_key: "", content: MEGOLM }],
    });
    encryptedPortal = encrypted.room_id;
    for (const [room, who] of [
      [portal, JOE],
      [encryptedPortal, ANN],
    ] as const)
      await eventually(`${who}'s ghost to join the portal`, async () => {
        const members = await matrixApi(
          world!.hs,
          alice!.accessToken,
          "GET",
          `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/joined_members`,
        );
        return ghostOf(who) in (members.joined as Json) ? true : undefined;
      });
    // Alice's browser is another device of hers, logged in as Element would.
    const res = await fetch(`${world.hs.url}/_matrix/client/v3/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "alice" },
        password: "alice-password",
        initial_device_display_name: "Chromium",
      }),
    });
    assert.ok(res.ok, `login: ${res.status}`);
    const login = (await res.json()) as { user_id: string; access_token: string; device_id: string };
    browser = await BrowserAlice.launch();
    const voip = await page().run<boolean>("start", {
      baseUrl: world.hs.url,
      userId: login.user_id,
      accessToken: login.access_token,
      deviceId: login.device_id,
      toneHz: ALICE_HZ,
      listenHz: JOE_HZ,
    });
    assert.equal(voip, true, "matrix-js-sdk finds WebRTC in Chromium");
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed" && world)
      for (const l of world.child.logs.filter((x) => x.level >= 40))
        console.error(JSON.stringify(l).slice(0, 600));
  });

  after(async function () {
    this.timeout(60_000);
    await browser?.close();
    await world?.stop();
  });

  it("Alice calls Joe with video: his device rings, he answers, each hears the other's tone, her camera's frames reach him, she hangs up", async function () {
    const callId = await page().run<string>("place", portal, true);
    const ring = await ringAtJoe(1);
    assert.equal(ring.media, "video");
    assert.equal(ring.from, ALICE_PEOPLE);
    const call = await joeClient().calls.answer(ring.session, { audio: { tone: JOE_HZ } });
    const heard = listen(call);
    await bothWays(call, heard, callId, "Joe", { atDevice: true });
    const ended = call.whenEnded();
    await page().run("hangup");
    const end = await ended;
    assert.equal(end.reason, "normal");
    assert.equal(end.remote, true);
    census();
    assert.equal(bridgeUdpMax, 0, "the bridge process opened a UDP socket during the call");
  });

  it("Alice calls Joe with video, his device takes no video: he answers audio only, tones both ways, a notice in the portal says so", async function () {
    const n = rings.length;
    const callId = await page().run<string>("place", portal, true);
    const ring = await ringAtJoe(n + 1);
    assert.equal(ring.media, "video");
    const call = await joeClient().calls.answer(ring.session, { audio: { tone: JOE_HZ }, video: false });
    const heard = listen(call);
    await bothWays(call, heard, callId, "Joe");
    assert.equal(heard.frames, 0, "no video reached the device that takes none");
    assert.equal((await page().status()).videoFrames, 0, "and none came from it");
    const notice = await eventually(
      "the ghost's notice that Joe answered audio only",
      async () => {
        const chunk = await portalEvents();
        return chunk.find((e) => e.type === "m.room.message" && e.content.body === audioOnlyText(JOE));
      },
      WAIT,
    );
    assert.equal(notice.sender, ghostOf(JOE));
    assert.equal(notice.content.msgtype, "m.notice");
    const ended = call.whenEnded();
    await page().run("hangup");
    assert.equal((await ended).reason, "normal");
    assert.equal(bridgeUdpMax, 0, "the bridge process opened a UDP socket during the call");
  });

  it("Joe calls Alice: it rings in Element, she answers, tones both ways, he hangs up and her call ends", async function () {
    const { call, callId } = await ringAlice(joeClient, "Joe", { media: "voice", audio: { tone: JOE_HZ } });
    const heard = listen(call);
    assert.equal(callId, call.id, "the Matrix call id is the People session");
    await page().run("answer", callId, false);
    await bothWays(call, heard, callId, "Joe");
    await call.hangup();
    const s = await aliceWhen("the call ended by Joe", (x) => x.callId === callId && x.state === "ended");
    assert.equal(s.hangupParty, "remote");
    assert.equal(s.hangupReason, "user_hangup");
    assert.equal(bridgeUdpMax, 0, "the bridge process opened a UDP socket during the call");
  });

  it("Joe rejects Alice's call: Element's call ends as rejected by the far side", async function () {
    const n = rings.length;
    const callId = await page().run<string>("place", portal, false);
    const ring = await ringAtJoe(n + 1);
    await joeClient().calls.reject(ring.session);
    const s = await aliceWhen("the call rejected", (x) => x.callId === callId && x.state === "ended");
    assert.equal(s.hangupParty, "remote");
  });

  it("Alice declines Joe's call: his call ends declined", async function () {
    const { call, callId } = await ringAlice(joeClient, "Joe", { media: "voice", audio: { tone: JOE_HZ } });
    const ended = call.whenEnded();
    await page().run("reject", callId);
    const end = await ended;
    assert.equal(end.reason, "declined");
    assert.equal(end.remote, true);
  });

  it("Joe's call that nobody answers stops ringing in Element when his device gives up", async function () {
    // Long enough for the ring to reach Element on a busy machine before the device gives up.
    const { call, callId } = await ringAlice(joeClient, "Joe", {
      media: "voice",
      audio: { tone: JOE_HZ },
      timeoutMs: 20_000,
    });
    const end = await call.whenEnded();
    assert.equal(end.reason, "timeout");
    // The page follows a call once it is answered or declined; an unanswered one is seen in the room.
    await eventually(
      "the ghost's hangup (invite_timeout) in the portal",
      async () => {
        const chunk = await portalEvents();
        return chunk.find(
          (e) =>
            e.type === "m.call.hangup" &&
            e.sender === ghostOf(JOE) &&
            e.content.call_id === callId &&
            e.content.reason === "invite_timeout",
        );
      },
      WAIT,
    );
  });

  /** The m.call.* events of a call in the encrypted portal, as the homeserver holds them. */
  async function rawCallEvents(): Promise<{ type: string; sender: string }[]> {
    const res = await matrixApi(
      started().hs,
      alice!.accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(encryptedPortal)}/messages?dir=b&limit=100`,
    );
    const chunk = res.chunk as { type: string; sender: string; content: Json }[];
    // Encrypted events hide their type and call id from the homeserver: look at the types only.
    return chunk.filter((e) => e.type.startsWith("m.call.") || e.type === "m.room.encrypted");
  }

  it("in an encrypted DM, Alice calls Ann with video: the call events are encrypted both ways, tones both ways, her frames reach Ann, she hangs up", async function () {
    const decryptedBefore = (await page().status()).decryptedCallEvents;
    const n = annRings.length;
    const callId = await page().run<string>("place", encryptedPortal, true);
    const ring = await ringAtAnn(n + 1);
    assert.equal(ring.media, "video");
    assert.equal(ring.from, ALICE_PEOPLE);
    const call = await annClient().calls.answer(ring.session, { audio: { tone: JOE_HZ } });
    const heard = listen(call);
    await bothWays(call, heard, callId, "Ann", { atDevice: true });
    // Ann's answer (and candidates) reached the page encrypted by her ghost's device.
    const s = await page().status();
    assert.ok(s.decryptedCallEvents > decryptedBefore, "Alice decrypted the ghost's call events");
    const ended = call.whenEnded();
    await page().run("hangup");
    const end = await ended;
    assert.equal(end.reason, "normal");
    assert.equal(end.remote, true);
    const raw = await rawCallEvents();
    assert.ok(raw.length > 0, "the call left events in the portal");
    assert.deepEqual(
      raw.filter((e) => e.type !== "m.room.encrypted"),
      [],
      "every call event in the encrypted portal is encrypted, Alice's and the ghost's",
    );
    assert.ok(
      raw.some((e) => e.sender === ghostOf(ANN)),
      "the ghost's call events are there, encrypted",
    );
    census();
    assert.equal(bridgeUdpMax, 0, "the bridge process opened a UDP socket during the call");
  });

  it("in an encrypted DM, Ann calls Alice with video: it rings in Element, she answers with video, tones and frames both ways, Ann hangs up", async function () {
    const decryptedBefore = (await page().status()).decryptedCallEvents;
    const { call, callId } = await ringAlice(annClient, "Ann", { media: "video", audio: { tone: JOE_HZ } });
    const heard = listen(call);
    assert.equal(callId, call.id, "the Matrix call id is the People session");
    await page().run("answer", callId, true);
    await bothWays(call, heard, callId, "Ann", { atDevice: true, atAlice: true });
    const s = await page().status();
    assert.ok(s.decryptedCallEvents > decryptedBefore, "the ghost's invite reached Alice encrypted");
    await call.hangup();
    const end = await aliceWhen("the call ended by Ann", (x) => x.callId === callId && x.state === "ended");
    assert.equal(end.hangupParty, "remote");
    const raw = await rawCallEvents();
    assert.deepEqual(
      raw.filter((e) => e.type !== "m.room.encrypted"),
      [],
      "no call event in the clear",
    );
    census();
    assert.equal(bridgeUdpMax, 0, "the bridge process opened a UDP socket during the call");
  });

  it("a bridge killed while Joe's call rings in Element hangs it up on both sides when it starts again", async function () {
    const { call, callId } = await ringAlice(joeClient, "Joe", {
      media: "voice",
      audio: { tone: JOE_HZ },
      timeoutMs: 240_000,
    });
    const ended = call.whenEnded();
    await started().child.kill("SIGKILL");
    await started().child.start(120_000);
    await aliceWhen(
      "the ring ended by the restarted bridge",
      (s) => s.endedIncoming.includes(callId),
      120_000,
    );
    const end = await ended;
    assert.equal(end.reason, "failed");
    assert.equal(end.remote, true);
  });
});
