// The MatrixRTC harness on its own, before any bridge: a real Synapse with what Element Call
// needs, livekit-server v1.11.0 built from the Go module proxy, the lk-jwt-service stand-in, and
// two Element Call users (MatrixRTCSession + Chromium with livekit-client, per-participant E2EE)
// who ring, hear and see each other. Then the media core of the bridge's MatrixRTC leg
// (src/bridge/adapters/rtc/livekit-leg.ts, rtc-node) against the browser with the same keys.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { EventType, type MatrixEvent } from "matrix-js-sdk";
import { LivekitLeg } from "../../src/bridge/adapters/rtc/livekit-leg.js";
import { ToneDetector, toneFrames } from "../../src/people/client/calls/audio.js";
import { discoverFocus, ElementCall, livekitToken } from "../helpers/element-call-user.js";
import { eventually, hearsTone, startRtcWorld, trace, type RtcWorld } from "../helpers/rtc-world.js";

describe("MatrixRTC harness: Synapse + livekit-server + token service + Chromium", function () {
  this.timeout(8 * 60_000);
  let w: RtcWorld;

  before(async function () {
    this.timeout(40 * 60_000); // the first run builds livekit-server
    w = await startRtcWorld();
  });

  after(async function () {
    await w?.stop();
  });

  it("advertises the LiveKit focus in .well-known and takes delayed events (MSC4140)", async function () {
    const focus = await discoverFocus(w.hs.url);
    assert.equal(focus.livekit_service_url, w.tokens.url);
    const res = await fetch(
      `${w.hs.url}/_matrix/client/v3/rooms/${encodeURIComponent(w.roomId)}/state/org.matrix.msc3401.call.member/_probe?org.matrix.msc4140.delay=60000`,
      {
        method: "PUT",
        headers: { authorization: `Bearer ${w.alice.accessToken}`, "content-type": "application/json" },
        body: "{}",
      },
    );
    const body = await res.text();
    assert.equal(res.status, 200, body);
    assert.ok((JSON.parse(body) as { delay_id?: string }).delay_id, "a delayed event has an id");
  });

  it("the token service refuses a forged OpenID token and malformed requests", async function () {
    const url = `${w.focus.livekit_service_url}/sfu/get`;
    const forged = await fetch(url, {
      method: "POST",
      body: JSON.stringify({
        room: w.roomId,
        device_id: "X",
        openid_token: { access_token: "forged", matrix_server_name: w.hs.serverName },
      }),
    });
    assert.equal(forged.status, 401);
    const malformed = await fetch(url, { method: "POST", body: "{]" });
    assert.equal(malformed.status, 400);
    const { jwt } = await livekitToken(w.alice.client, w.focus, w.roomId);
    const claims = JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString()) as {
      sub: string;
      video: { room: string };
    };
    assert.equal(claims.sub, `${w.alice.userId}:${w.alice.deviceId}`);
    assert.equal(claims.video.room, w.roomId);
  });

  it("two Element Call users ring, join, and hear and see each other with per-participant E2EE", async function () {
    const { alice, bob, roomId, browser, focus } = w;
    const aliceRoom = alice.client.getRoom(roomId) ?? assert.fail("alice has no room");
    const bobRoom = bob.client.getRoom(roomId) ?? assert.fail("bob has no room");
    const aliceCall = new ElementCall(alice.client, aliceRoom, browser);
    const bobCall = new ElementCall(bob.client, bobRoom, browser);
    const alicePage = await aliceCall.join(focus, { toneHz: 440, ring: true });
    trace("alice joined");
    // In an encrypted room the notification is Megolm-encrypted: look once it is decrypted.
    const ring = await eventually("bob's ring notification", async () =>
      bobRoom
        .getLiveTimeline()
        .getEvents()
        .find((ev: MatrixEvent) => ev.getType() === EventType.RTCNotification),
    );
    assert.equal(ring.getSender(), alice.userId);
    assert.equal(ring.getContent().notification_type, "ring");

    const bobPage = await bobCall.join(focus, { toneHz: 660 });
    trace("bob joined");
    await Promise.all([
      hearsTone(bobPage, aliceCall.identity, 440),
      hearsTone(alicePage, bobCall.identity, 660),
    ]);
    await eventually("video frames both ways", async () => {
      const [a, b] = [await alicePage.state(), await bobPage.state()];
      const fromBob = a.remotes[bobCall.identity]?.videoFrames ?? 0;
      const fromAlice = b.remotes[aliceCall.identity]?.videoFrames ?? 0;
      return fromBob > 10 && fromAlice > 10 ? true : undefined;
    });
    const [a, b] = [await alicePage.state(), await bobPage.state()];
    assert.ok(a.e2ee && b.e2ee, "end-to-end media encryption is on in both pages");
    assert.ok(a.remotes[bobCall.identity]?.encrypted, "bob's tracks arrive encrypted");
    assert.ok(b.remotes[aliceCall.identity]?.encrypted, "alice's tracks arrive encrypted");
    // The keys came over Olm from the peer's device, one per participant.
    assert.ok(aliceCall.keys.has(bobCall.identity) && bobCall.keys.has(aliceCall.identity));
    assert.notDeepEqual(
      aliceCall.keys.get(aliceCall.identity)?.key,
      aliceCall.keys.get(bobCall.identity)?.key,
    );

    await aliceCall.hangup();
    await eventually("bob sees alice leave", async () =>
      (await bobPage.state()).events.some((e) => e.endsWith(` left ${aliceCall.identity}`))
        ? true
        : undefined,
    );
    await bobCall.hangup();
    await eventually("the session is empty", async () =>
      bobCall.session.memberships.length === 0 ? true : undefined,
    );
  });

  it("the bridge's rtc-node leg and an Element Call browser exchange tones with per-participant keys", async function () {
    // rtc-node with per-participant keys set through the FFI (HKDF, Element Call's salt) against
    // livekit-client in Chromium. The keys are handed over directly here; their Olm transport is
    // the test above.
    const aliceRoom = w.alice.client.getRoom(w.roomId) ?? assert.fail("alice has no room");
    const { url, jwt, identity: legIdentity } = await w.tokenFor("rtc-leg");
    const legKey = randomBytes(16);
    const leg = new LivekitLeg();
    const heard = new ToneDetector(440);
    let frames = 0;
    leg.on("audio", (_id, pcm) => heard.push(pcm));
    // Video into the leg is not asserted here: the leg decoded no frame of Alice's camera on an idle
    // machine (2 runs of 2, Dec 2026) though it passed under load; open in issue 12. Counted for the trace.
    leg.on("video", () => frames++);
    await leg.connect(url, jwt);
    leg.setKey(legIdentity, legKey, 0);
    const tone = toneFrames(880);
    const sender = setInterval(() => void leg.sendPcm(tone()).catch(() => undefined), 10);
    try {
      const aliceCall = new ElementCall(w.alice.client, aliceRoom, w.browser);
      const page = await aliceCall.join(w.focus, { toneHz: 440 });
      await page.setKey(legIdentity, legKey, 0);
      const own = await eventually("alice's own media key", async () =>
        aliceCall.keys.get(aliceCall.identity),
      );
      leg.setKey(aliceCall.identity, own.key, own.index);
      trace("leg and alice connected");
      await Promise.all([
        hearsTone(page, legIdentity, 880),
        eventually("the leg hears alice's 440 Hz", async () => (heard.found ? true : undefined)),
      ]);
      assert.ok((await page.state()).remotes[legIdentity]?.encrypted, "the leg's audio arrives encrypted");
      trace(`the leg decoded ${frames} video frames`);
      await aliceCall.hangup();
    } finally {
      clearInterval(sender);
      await leg.close();
    }
  });

  it("without the sender's key the leg hears nothing: the media really is end-to-end encrypted", async function () {
    const aliceRoom = w.alice.client.getRoom(w.roomId) ?? assert.fail("alice has no room");
    const { url, jwt, identity: legIdentity } = await w.tokenFor("rtc-leg-nokey");
    const leg = new LivekitLeg();
    const heard = new ToneDetector(440);
    let audioFrames = 0;
    leg.on("audio", (_id, pcm) => {
      audioFrames++;
      heard.push(pcm);
    });
    await leg.connect(url, jwt);
    leg.setKey(legIdentity, randomBytes(16), 0);
    const aliceCall = new ElementCall(w.alice.client, aliceRoom, w.browser);
    try {
      await aliceCall.join(w.focus, { toneHz: 440 });
      // Frames do arrive (the SFU forwards them), but undecryptable: no tone in them.
      await eventually("audio frames at the leg", async () => (audioFrames > 300 ? true : undefined));
      assert.equal(heard.found, false, "a leg without alice's key must not hear her tone");
    } finally {
      await aliceCall.hangup();
      await leg.close();
    }
  });
});
