// The bridge's LiveKit leg as a sender, against a listener that decrypts nothing (a second rtc-node
// leg with e2ee off, as Element Call is in an unencrypted room): with Element Call's per-participant
// E2EE on (an encrypted portal) the frames it sends are really ciphertext, so the plain listener gets
// frames but no tone; with e2ee off (an unencrypted portal) the same listener hears the tone. The
// inbound direction (a leg without the sender's key hears nothing) is in test/e2e/matrixrtc-livekit.
// The same for the people-rtc-relay sidecar's LiveKit leg (passthrough, the default), fed from its
// People leg by a libwebrtc peer sending the tone: the frames it adds encryption to are ciphertext.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { AccessToken } from "livekit-server-sdk";
import { LivekitLeg } from "../../src/bridge/adapters/rtc/livekit-leg.js";
import { RelayCallMedia } from "../../src/bridge/adapters/rtc/relay-call.js";
import { RelayProcess } from "../../src/bridge/adapters/rtc/relay-process.js";
import { wrtcEngine } from "../../src/people/client/calls/wrtc-engine.js";
import { silentLog } from "../helpers/portal-fakes.js";
import { ensureRtcRelayBuilt } from "../helpers/rtc-relay.js";
import { ToneDetector, toneFrames } from "../../src/people/client/calls/audio.js";
import { startLivekit, type Livekit } from "../helpers/livekit.js";
import { eventually } from "../helpers/rtc-world.js";

const HZ = 660;
/** Frames (10 ms) the listener decodes before judging: several seconds of a steady tone. */
const ENOUGH = 400;

describe("the bridge's LiveKit leg sends ciphertext with E2EE on and plain frames with it off", function () {
  this.timeout(5 * 60_000);
  let lk: Livekit | undefined;

  let relay: RelayProcess | undefined;

  before(async function () {
    this.timeout(40 * 60_000); // a first run builds livekit-server and the sidecar
    lk = await startLivekit();
    relay = new RelayProcess({ binary: await ensureRtcRelayBuilt(), log: silentLog });
  });
  after(async () => {
    await relay?.stop();
    await lk?.stop();
  });

  const tokenFor = (room: string) => (identity: string) => {
    const t = new AccessToken(lk!.apiKey, lk!.apiSecret, { identity, ttl: "10m" });
    t.addGrant({ room, roomJoin: true, canPublish: true, canSubscribe: true });
    return t.toJwt();
  };

  /** The sidecar's call: its People leg answered by a libwebrtc peer sending the tone, its LiveKit leg sending. */
  async function listenToSidecar(
    room: string,
    senderE2ee: boolean,
  ): Promise<{ frames: number; found: boolean; carried: number }> {
    const token = tokenFor(room);
    const media = new RelayCallMedia(relay!, { media: "voice", iceServers: [] });
    const joe = wrtcEngine.createPeer({
      media: "voice",
      iceServers: [],
      relayOnly: false,
      audio: { tone: HZ },
    });
    const listener = new LivekitLeg();
    const heard = new ToneDetector(HZ);
    let frames = 0;
    listener.on("audio", (_id, pcm) => {
      frames++;
      heard.push(pcm);
    });
    media.peer.events.on(
      "candidate",
      (c) => void (c ? joe.addCandidate(c).catch(() => undefined) : undefined),
    );
    joe.events.on(
      "candidate",
      (c) => void (c ? media.peer.addCandidate(c).catch(() => undefined) : undefined),
    );
    try {
      await listener.connect(lk!.wsUrl, await token("listener"), { e2ee: false });
      await media.peer.acceptAnswer(await joe.acceptOffer(await media.peer.createOffer()));
      await media.leg.connect(lk!.wsUrl, await token("ghost"), { e2ee: senderE2ee });
      if (senderE2ee) media.leg.setKey("ghost", randomBytes(16), 0);
      await eventually("audio frames at the listener", async () => (frames >= ENOUGH ? true : undefined));
      return { frames, found: heard.found, carried: (await media.stats()).toMatrix.audio };
    } finally {
      media.close();
      joe.close();
      await listener.close();
    }
  }

  it("the sidecar, E2EE on: the listener gets the frames it carried but no tone in them", async function () {
    const r = await listenToSidecar("relay-enc", true);
    assert.ok(r.frames >= ENOUGH && r.carried > 0, JSON.stringify(r));
    assert.equal(r.found, false, "a listener without the key must not hear the sidecar's tone");
  });

  it("the sidecar, E2EE off: the same listener hears the tone it carried", async function () {
    const r = await listenToSidecar("relay-plain", false);
    assert.equal(r.found, true, JSON.stringify(r));
    assert.ok(r.carried > 0);
  });

  async function listen(room: string, senderE2ee: boolean): Promise<{ frames: number; found: boolean }> {
    const token = (identity: string) => {
      const t = new AccessToken(lk!.apiKey, lk!.apiSecret, { identity, ttl: "10m" });
      t.addGrant({ room, roomJoin: true, canPublish: true, canSubscribe: true });
      return t.toJwt();
    };
    const sender = new LivekitLeg();
    const listener = new LivekitLeg();
    const heard = new ToneDetector(HZ);
    let frames = 0;
    listener.on("audio", (_id, pcm) => {
      frames++;
      heard.push(pcm);
    });
    const next = toneFrames(HZ);
    let timer: NodeJS.Timeout | undefined;
    try {
      await listener.connect(lk!.wsUrl, await token("listener"), { e2ee: false });
      await sender.connect(lk!.wsUrl, await token("ghost"), { e2ee: senderE2ee });
      if (senderE2ee) sender.setKey("ghost", randomBytes(16), 0);
      timer = setInterval(() => void sender.sendPcm(next()).catch(() => undefined), 10);
      await eventually("audio frames at the listener", async () => (frames >= ENOUGH ? true : undefined));
      return { frames, found: heard.found };
    } finally {
      clearInterval(timer);
      await sender.close();
      await listener.close();
    }
  }

  it("E2EE on: the listener gets the frames but no tone in them", async function () {
    const r = await listen("enc", true);
    assert.ok(r.frames >= ENOUGH);
    assert.equal(r.found, false, "a listener without the key must not hear the leg's tone");
  });

  it("E2EE off (an unencrypted portal): the same listener hears the tone", async function () {
    const r = await listen("plain", false);
    assert.equal(r.found, true);
  });
});
