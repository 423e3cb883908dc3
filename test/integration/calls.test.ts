// People ↔ People voice and video calls with real parts: two People servers
// on loopback (a.test, b.test), coturn from Debian as the TURN relay, and
// libwebrtc (@roamhq/wrtc) as every device's media stack. A tone sent by one
// side is found (Goertzel) in the audio the other side decodes; video frames
// are counted as they are decoded. Every wait is for a condition.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { PeopleClient } from "../../src/people/client/people-client.js";
import type { Call, IncomingCall } from "../../src/people/client/calls/calls.js";
import { ToneDetector } from "../../src/people/client/calls/audio.js";
import type { MediaEngine, MediaPeer } from "../../src/people/client/calls/media-engine.js";
import { wrtcEngine } from "../../src/people/client/calls/wrtc-engine.js";
import { isPeopleError } from "../../src/people/errors.js";
import { coturn, type Coturn } from "../helpers/coturn.js";
import { startLinkedServers, type TestServer } from "../helpers/people-servers.js";
import { clientOptions, networkOf, removeTempDirs, tempDir, waitUntil } from "../helpers/client-fixtures.js";

const WAIT = 60_000;

interface Device {
  name: string;
  client: PeopleClient;
  rings: IncomingCall[];
  stopped: { session: string; reason: string }[];
  candidates: string[];
}

/** What a call received: the tone detector and the video frames. */
function listen(call: Call, hz: number) {
  const tone = new ToneDetector(hz);
  const seen = { frames: 0, tone };
  call.on("audio", (a) => tone.push(a.samples, a.channels));
  call.on("video", () => seen.frames++);
  return seen;
}

describe("calls between People devices (WebRTC, TURN)", function () {
  this.timeout(240_000);
  let servers: TestServer[] = [];
  let turn: Coturn;
  const devices: Device[] = [];
  const by = (name: string) => devices.find((d) => d.name === name)!;

  async function add(
    name: string,
    make: (o: ReturnType<typeof clientOptions>) => Promise<PeopleClient>,
    engine?: MediaEngine,
  ) {
    const o = {
      ...clientOptions(networkOf(servers), tempDir(name)),
      ...(engine ? { mediaEngine: engine } : {}),
    };
    const client = await make(o);
    const d: Device = { name, client, rings: [], stopped: [], candidates: [] };
    client.calls.on("incoming", (c) => d.rings.push(c));
    client.calls.on("ringingEnded", (e) => d.stopped.push(e));
    client.onMessage((m) => {
      if (m.content.type === "rt_candidate")
        d.candidates.push(...m.content.candidates.map((c) => c.candidate));
    });
    await client.start();
    devices.push(d);
    return d;
  }

  async function link(name: string, from: Device, engine: MediaEngine = wrtcEngine) {
    const offer = from.client.createLinkCode();
    const d = await add(
      name,
      (o) => PeopleClient.link({ ...o, address: from.client.address, code: offer.code }),
      engine,
    );
    await offer.completed;
    return d;
  }

  /** The ring of call `session` on `d`, once it arrives. */
  const ringOf = async (d: Device, session: string) => {
    await waitUntil(() => d.rings.some((r) => r.session === session), `${d.name} rings`, WAIT);
    return d.rings.find((r) => r.session === session)!;
  };

  before(async function () {
    this.timeout(180_000);
    turn = await coturn();
    servers = await startLinkedServers(["a.test", "b.test"], { config: { turn: turn.config() } });
    const jane1 = await add(
      "jane1",
      (o) => PeopleClient.create({ ...o, address: "jane@a.test" }),
      wrtcEngine,
    );
    await link("jane2", jane1);
    const joe1 = await add("joe1", (o) => PeopleClient.create({ ...o, address: "joe@b.test" }), wrtcEngine);
    await link("joe2", joe1);
    await add("kim", (o) => PeopleClient.create({ ...o, address: "kim@a.test" }), wrtcEngine);
    // A device with no media engine: it passes SDP through, as the bridge will.
    await add("sig", (o) => PeopleClient.create({ ...o, address: "sig@b.test" }));
  });

  afterEach(async () => {
    for (const d of devices) for (const c of d.client.calls.calls()) await c.hangup();
    await waitUntil(
      () => devices.every((d) => d.client.calls.calls().length === 0),
      "every call ended",
      WAIT,
    );
  });

  after(async () => {
    for (const d of devices) {
      const t = Date.now();
      await d.client.close().catch(() => undefined);
      if (process.env.DBG) console.log("closed", d.name, Date.now() - t);
    }
    for (const s of servers) await s.stop();
    removeTempDirs();
  });

  it("the server hands its devices TURN credentials coturn's shared secret signs, only with a token", async () => {
    const a = servers[0]!;
    const anonymous = await a.http.send("GET", `${a.url}/_people/v1/turn`, {});
    assert.equal(anonymous.status, 401);
    const creds = await by("jane1").client.calls.iceServers();
    assert.equal(creds.length, 1);
    const server = creds[0]!;
    const username = server.username ?? "";
    assert.deepEqual(server.urls, turn.uris);
    const [expiry, address] = username.split(":");
    assert.equal(address, "jane@a.test");
    const left = Number(expiry) - Date.now() / 1000;
    assert(left > 3000 && left <= 3600, `expires in about an hour, not ${left} s`);
    assert.equal(server.credential, createHmac("sha1", turn.secret).update(username).digest("base64"));
  });

  it("rings on every device of the callee; the first to answer gets the call, audio both ways and video, and a hangup ends it on both", async () => {
    const [jane, joe1, joe2] = [by("jane1"), by("joe1"), by("joe2")];
    const call = await jane.client.calls.call("joe@b.test", { media: "video", audio: { tone: 440 } });
    const r1 = await ringOf(joe1, call.id);
    const r2 = await ringOf(joe2, call.id);
    assert.equal(r1.session, call.id);
    assert.equal(r2.session, call.id);
    assert.equal(r1.media, "video");
    const answered = await joe1.client.calls.answer(r1.session, { audio: { tone: 880 } });
    const atJane = listen(call, 880);
    const atJoe = listen(answered, 440);
    await waitUntil(() => joe2.stopped.some((s) => s.session === call.id), "joe2 stops ringing", WAIT);
    assert.equal(joe2.stopped.find((s) => s.session === call.id)!.reason, "answered_elsewhere");
    await Promise.all([call.whenActive(), answered.whenActive()]);
    await waitUntil(() => atJane.tone.found && atJoe.tone.found, "each side hears the other's tone", WAIT);
    await waitUntil(() => atJane.frames >= 10 && atJoe.frames >= 10, "video frames both ways", WAIT);
    const ended = answered.whenEnded();
    await call.hangup();
    const e = await ended;
    assert.equal(e.reason, "normal");
    assert.equal(e.remote, true);
    assert(e.durationMs > 0);
    assert.equal(call.endReason, "normal");
  });

  it("a device that takes no video answers a video call audio only: the caller is told, audio flows, no video either way", async () => {
    const [jane, kim] = [by("jane1"), by("kim")];
    const call = await jane.client.calls.call("kim@a.test", { media: "video", audio: { tone: 440 } });
    const told: unknown[] = [];
    call.on("videoRefused", (e) => told.push(e));
    const ring = await ringOf(kim, call.id);
    assert.equal(ring.media, "video");
    const answered = await kim.client.calls.answer(ring.session, { audio: { tone: 880 }, video: false });
    assert.equal(answered.media, "voice", "kim's side of the call is audio only");
    const atJane = listen(call, 880);
    const atKim = listen(answered, 440);
    await Promise.all([call.whenActive(), answered.whenActive()]);
    assert.equal(call.videoRefused, true);
    assert.equal(told.length, 1, "the caller's call said so once");
    await waitUntil(() => atJane.tone.found && atKim.tone.found, "each side hears the other's tone", WAIT);
    assert.equal(atJane.frames + atKim.frames, 0, "no video frame arrived on either side");
    const ended = answered.whenEnded();
    await call.hangup();
    assert.equal((await ended).reason, "normal");
  });

  it("relays media through coturn when both sides allow only relayed candidates, and the callee can hang up", async () => {
    const [jane, joe2] = [by("jane1"), by("joe2")];
    const seenBefore = joe2.candidates.length;
    const call = await jane.client.calls.call("joe@b.test", { audio: { tone: 660 }, relayOnly: true });
    const ring = await ringOf(joe2, call.id);
    const answered = await joe2.client.calls.answer(ring.session, { audio: { tone: 1000 }, relayOnly: true });
    const atJane = listen(call, 1000);
    const atJoe = listen(answered, 660);
    await Promise.all([call.whenActive(), answered.whenActive()]);
    await waitUntil(() => atJane.tone.found && atJoe.tone.found, "tones both ways through the relay", WAIT);
    const fromJane = joe2.candidates.slice(seenBefore).filter((c) => c !== "");
    assert(fromJane.length > 0, "jane trickled candidates");
    assert(
      fromJane.every((c) => / typ relay /.test(c) && c.includes("127.0.0.1")),
      `only relayed: ${fromJane.join(" | ")}`,
    );
    const ended = call.whenEnded();
    await answered.hangup();
    assert.deepEqual((await ended).reason, "normal");
  });

  it("ends unanswered with timeout, and every callee device stops ringing", async () => {
    const [jane, joe1, joe2] = [by("jane1"), by("joe1"), by("joe2")];
    const call = await jane.client.calls.call("joe@b.test", { timeoutMs: 3000 });
    await ringOf(joe1, call.id);
    assert.equal((await call.whenEnded()).reason, "timeout");
    for (const d of [joe1, joe2])
      await waitUntil(
        () => d.stopped.some((s) => s.session === call.id && s.reason === "timeout"),
        `${d.name} stops ringing`,
        WAIT,
      );
  });

  it("a reject on one device ends the call for the caller and the ringing on the other device", async () => {
    const [jane, joe1, joe2] = [by("jane1"), by("joe1"), by("joe2")];
    const call = await jane.client.calls.call("joe@b.test");
    const ring = await ringOf(joe2, call.id);
    await ringOf(joe1, call.id);
    await joe2.client.calls.reject(ring.session);
    const e = await call.whenEnded();
    assert.equal(e.reason, "declined");
    assert.equal(e.remote, true);
    await waitUntil(
      () => joe1.stopped.some((s) => s.session === call.id && s.reason === "declined_elsewhere"),
      "joe1 stops ringing",
      WAIT,
    );
    await assert.rejects(
      joe1.client.calls.answer(ring.session),
      (e: unknown) => isPeopleError(e) && e.code === "PEOPLE_NOT_FOUND",
    );
  });

  it("a device in a call answers another caller busy", async () => {
    const [jane, joe1, kim] = [by("jane1"), by("joe1"), by("kim")];
    const first = await kim.client.calls.call("jane@a.test");
    const ring = await ringOf(jane, first.id);
    const answered = await jane.client.calls.answer(ring.session);
    await Promise.all([first.whenActive(), answered.whenActive()]);
    const second = await joe1.client.calls.call("jane@a.test");
    const e = await second.whenEnded();
    assert.equal(e.reason, "busy");
    assert.equal(jane.rings.filter((r) => r.session === second.id).length, 0, "jane1 never rang");
    assert.equal(answered.state, "active", "the first call goes on");
  });

  it("when two devices answer at once, one gets the call and the other is told it was answered elsewhere", async () => {
    const [jane, joe1, joe2] = [by("jane1"), by("joe1"), by("joe2")];
    const call = await jane.client.calls.call("joe@b.test", { audio: { tone: 440 } });
    const [r1, r2] = await Promise.all([ringOf(joe1, call.id), ringOf(joe2, call.id)]);
    const both = await Promise.all([
      joe1.client.calls.answer(r1.session, { audio: { tone: 523 } }),
      joe2.client.calls.answer(r2.session, { audio: { tone: 523 } }),
    ]);
    await call.whenActive();
    const winner = both.find((c) => c.peer.device !== undefined && call.peer.device === joe(c))!;
    const loser = both.find((c) => c !== winner)!;
    assert(winner && loser && winner !== loser);
    assert.equal((await loser.whenEnded()).reason, "answered_elsewhere");
    await winner.whenActive();
    const atJane = listen(call, 523);
    await waitUntil(() => atJane.tone.found, "jane hears the device that won", WAIT);
    function joe(c: Call) {
      return c === both[0] ? joe1.client.device : joe2.client.device;
    }
  });

  it("calls the caller's own other device", async () => {
    const [jane1, jane2] = [by("jane1"), by("jane2")];
    const call = await jane1.client.calls.call("jane@a.test", { audio: { tone: 440 } });
    const ring = await ringOf(jane2, call.id);
    assert.equal(ring.device, jane1.client.device);
    assert.equal(
      jane1.rings.filter((r) => r.session === call.id).length,
      0,
      "the calling device does not ring",
    );
    const answered = await jane2.client.calls.answer(ring.session, { audio: { tone: 880 } });
    const atCaller = listen(call, 880);
    await Promise.all([call.whenActive(), answered.whenActive()]);
    await waitUntil(() => atCaller.tone.found, "the calling device hears the other", WAIT);
  });

  it("glare: both call each other at once and end up in one call, the same on both sides", async () => {
    const [jane, kim] = [by("jane1"), by("kim")];
    const [a, b] = await Promise.all([
      jane.client.calls.call("kim@a.test", { audio: { tone: 440 } }),
      kim.client.calls.call("jane@a.test", { audio: { tone: 880 } }),
    ]);
    await waitUntil(
      () => {
        const j = jane.client.calls.calls();
        const k = kim.client.calls.calls();
        return (
          j.length === 1 &&
          k.length === 1 &&
          j[0]!.id === k[0]!.id &&
          j[0]!.state === "active" &&
          k[0]!.state === "active"
        );
      },
      "one active call on both sides",
      WAIT,
    );
    const survivor = jane.client.calls.calls()[0]!.id;
    assert(survivor === a.id || survivor === b.id);
    if (a.id !== b.id) {
      const dropped = survivor === a.id ? b : a;
      assert.equal(dropped.endReason, "replaced");
    }
  });

  it("refuses a DTLS peer whose certificate is not the one its device signed", async () => {
    const [jane, joe1] = [by("jane1"), by("joe1")];
    // The caller signs another certificate's fingerprint (SDP and dtls_fingerprint alike, so the
    // signalling is consistent): what a party that could rewrite the signalling would do.
    const other = wrtcEngine.createPeer({
      media: "voice",
      iceServers: [],
      relayOnly: false,
      audio: { silence: true },
    });
    const foreign = /a=fingerprint:(.+)\r?\n/.exec(await other.createOffer())![1]!.trim();
    other.close();
    const lying: MediaEngine = {
      createPeer(o) {
        const p = wrtcEngine.createPeer(o);
        const swap = (sdp: string) => sdp.replace(/a=fingerprint:.+/g, `a=fingerprint:${foreign}`);
        return Object.assign(Object.create(p) as MediaPeer, {
          createOffer: async () => swap(await p.createOffer()),
        });
      },
    };
    const liar = await link("jane3", jane, lying);
    const call = await liar.client.calls.call("joe@b.test", { audio: { tone: 440 } });
    const ring = await ringOf(joe1, call.id);
    const answered = await joe1.client.calls.answer(ring.session, { audio: { tone: 880 } });
    const atJoe = listen(answered, 440);
    const [e1, e2] = await Promise.all([answered.whenEnded(), call.whenEnded()]);
    assert.equal(e1.reason, "failed");
    assert.equal(e2.reason, "failed");
    assert.equal(answered.activeAt, undefined, "never active");
    assert.equal(atJoe.tone.hits, 0, "no audio from the impostor");
  });

  it("signalling only: a device without media passes its own WebRTC stack's SDP and candidates", async () => {
    const [jane, sig] = [by("jane1"), by("sig")];
    const call = await jane.client.calls.call("sig@b.test", { audio: { tone: 440 } });
    const ring = await ringOf(sig, call.id);
    assert.match(ring.sdp, /^v=0/);
    // The application's own stack (here libwebrtc again, driven by hand).
    const own = wrtcEngine.createPeer({
      media: "voice",
      iceServers: [],
      relayOnly: false,
      audio: { tone: 880 },
    });
    const tone = new ToneDetector(440);
    own.events.on("audio", (a) => tone.push(a.samples, a.channels));
    const pending: Parameters<Call["addLocalCandidates"]>[0][number][] = [];
    own.events.on("candidate", (c) => pending.push(c ?? { candidate: "" }));
    const answered = await sig.client.calls.answer(ring.session, { sdp: await own.acceptOffer(ring.sdp) });
    answered.on("remoteCandidates", (cs) => cs.forEach((c) => void own.addCandidate(c)));
    answered.addLocalCandidates(pending.splice(0));
    own.events.on("candidate", () => answered.addLocalCandidates(pending.splice(0)));
    own.events.on("state", (s) => s === "connected" && answered.markActive());
    const atJane = listen(call, 880);
    await Promise.all([call.whenActive(), answered.whenActive()]);
    await waitUntil(() => atJane.tone.found && tone.found, "tones both ways through the pass-through", WAIT);
    own.close();
  });
});
