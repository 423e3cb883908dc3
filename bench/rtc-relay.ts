// `npm run bench -- rtc-relay`: the media path of a bridged MatrixRTC call against its baseline in
// the same run, both through the same livekit-server with per-participant E2EE:
// - baseline: two plain LiveKit participants (rtc-node), the second joining a call the first is in;
// - relayed: an rtc-node participant (Element X's stand-in) and a People device (libwebrtc) joined
//   through the bridge's LiveKit leg, the media relay and the People leg (DTLS-SRTP), the bridge
//   joining a call the first is in.
// - passthrough: the same two ends, the bridge's part in the people-rtc-relay sidecar (its LiveKit
//   leg, Opus/VP8 frames as they come, its People leg), driven through the bridge's RelayCallMedia.
// Figures: join → first detected tone each way (Goertzel), and CPU per second of a call with audio
// and video flowing: this process (both ends in it in the relayed setups) plus the sidecar's (from
// /proc); the bridge's part is the difference between the relayed rows, both holding the same ends.
// No Synapse and no browser: signalling is not measured here.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { AccessToken } from "livekit-server-sdk";
import { LivekitLeg } from "../src/bridge/adapters/rtc/livekit-leg.js";
import { MediaRelay } from "../src/bridge/adapters/rtc/media-relay.js";
import { RelayCallMedia } from "../src/bridge/adapters/rtc/relay-call.js";
import { RelayProcess } from "../src/bridge/adapters/rtc/relay-process.js";
import { createBridgeLogger } from "../src/bridge/logger.js";
import { ToneDetector, toneFrames } from "../src/people/client/calls/audio.js";
import type { MediaPeer, PeerOptions } from "../src/people/client/calls/media-engine.js";
import { wrtcEngine } from "../src/people/client/calls/wrtc-engine.js";
import { startLivekit, type Livekit } from "../test/helpers/livekit.js";
import { eventually } from "../test/helpers/rtc-world.js";
import { ensureRtcRelayBuilt } from "../test/helpers/rtc-relay.js";
import { fmt, table } from "./harness.js";

const ROUNDS = 3;
const CPU_WINDOW_MS = 5_000;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

interface Round {
  firstHearsMs: number;
  joinerHearsMs: number;
  cpuMsPerS: number;
  /** The sidecar's share (0 without one). */
  sidecarMsPerS: number;
}

async function token(lk: Livekit, room: string, identity: string): Promise<string> {
  const t = new AccessToken(lk.apiKey, lk.apiSecret, { identity, ttl: "10m" });
  t.addGrant({ room, roomJoin: true, canPublish: true, canSubscribe: true });
  return t.toJwt();
}

function pattern(n: number): { width: number; height: number; data: Uint8Array } {
  const [w, h] = [320, 240];
  const data = new Uint8Array((w * h * 3) / 2).fill(100);
  const x0 = (n * 6) % w;
  for (let y = 0; y < h; y++) data.fill(230, y * w + x0, y * w + Math.min(w, x0 + 20));
  return { width: w, height: h, data };
}

/** A LiveKit participant sending a tone and a camera, hearing `hearHz` from `from`. */
async function participant(lk: Livekit, room: string, id: string, hz: number, hearHz: number, from: string) {
  const leg = new LivekitLeg();
  const hears = new ToneDetector(hearHz);
  leg.on("audio", (who, pcm) => {
    if (who === from) hears.push(pcm);
  });
  await leg.connect(lk.wsUrl, await token(lk, room, id), { video: true });
  const tone = toneFrames(hz);
  let n = 0;
  const timers = [
    setInterval(() => void leg.sendPcm(tone()).catch(() => undefined), 10),
    setInterval(() => leg.sendVideo(pattern(n++)), 66),
  ];
  return {
    leg,
    hears,
    stop: async () => {
      for (const t of timers) clearInterval(t);
      await leg.close();
    },
  };
}

/** A process's CPU so far in ms (utime + stime of /proc/<pid>/stat, at 100 ticks a second). */
function procCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** CPU ms per second over the window: this process's and, when given, the sidecar's. */
async function cpuPerSecond(sidecar?: number): Promise<{ cpuMsPerS: number; sidecarMsPerS: number }> {
  const start = process.cpuUsage();
  const side0 = sidecar === undefined ? 0 : procCpuMs(sidecar);
  await new Promise((r) => setTimeout(r, CPU_WINDOW_MS));
  const d = process.cpuUsage(start);
  const sidecarMsPerS = sidecar === undefined ? 0 : (procCpuMs(sidecar) - side0) / (CPU_WINDOW_MS / 1000);
  return { cpuMsPerS: (d.user + d.system) / 1000 / (CPU_WINDOW_MS / 1000) + sidecarMsPerS, sidecarMsPerS };
}

function keys(legs: LivekitLeg[], all: Map<string, Uint8Array>): void {
  for (const leg of legs) for (const [id, key] of all) leg.setKey(id, key, 0);
}

async function baselineRound(lk: Livekit, n: number): Promise<Round> {
  const room = `!base${n}:bench`;
  const [a, b] = [`@a:bench:A${n}`, `@b:bench:B${n}`];
  const all = new Map([
    [a, randomBytes(16)],
    [b, randomBytes(16)],
  ]);
  const first = await participant(lk, room, a, 440, 660, b);
  keys([first.leg], all);
  try {
    const t0 = Date.now();
    const joiner = await participant(lk, room, b, 660, 440, a);
    keys([joiner.leg], all);
    try {
      const [firstHearsMs, joinerHearsMs] = await Promise.all([
        eventually("a hears b", async () => (first.hears.found ? Date.now() - t0 : undefined), 60_000),
        eventually("b hears a", async () => (joiner.hears.found ? Date.now() - t0 : undefined), 60_000),
      ]);
      return { firstHearsMs, joinerHearsMs, ...(await cpuPerSecond()) };
    } finally {
      await joiner.stop();
    }
  } finally {
    await first.stop();
  }
}

async function relayRound(lk: Livekit, n: number): Promise<Round> {
  const room = `!relay${n}:bench`;
  const [alice, bridge] = [`@alice:bench:A${n}`, `@_people_joe:bench:G${n}`];
  const all = new Map([
    [alice, randomBytes(16)],
    [bridge, randomBytes(16)],
  ]);
  const first = await participant(lk, room, alice, 440, 660, bridge);
  keys([first.leg], all);
  const options: PeerOptions = { media: "video", iceServers: [], relayOnly: false, audio: { silence: true } };
  const stops: (() => unknown)[] = [];
  try {
    const t0 = Date.now();
    const leg = new LivekitLeg();
    stops.push(() => leg.close());
    const relay = new MediaRelay(leg, () => alice);
    stops.push(() => relay.close());
    await leg.connect(lk.wsUrl, await token(lk, room, bridge), { video: true });
    keys([leg], all);
    const people = wrtcEngine.createPeer({ ...options, live: relay });
    stops.push(() => people.close());
    relay.fromPeople(people.events);
    const joe = wrtcEngine.createPeer({ ...options, audio: { tone: 660 } });
    stops.push(() => joe.close());
    const joeHears = new ToneDetector(440);
    joe.events.on("audio", (a) => joeHears.push(a.samples, a.channels));
    await connect(people, joe);
    const [firstHearsMs, joinerHearsMs] = await Promise.all([
      eventually("alice hears joe", async () => (first.hears.found ? Date.now() - t0 : undefined), 60_000),
      eventually("joe hears alice", async () => (joeHears.found ? Date.now() - t0 : undefined), 60_000),
    ]);
    return { firstHearsMs, joinerHearsMs, ...(await cpuPerSecond()) };
  } finally {
    for (const stop of stops.reverse()) await stop();
    await first.stop();
  }
}

async function passthroughRound(lk: Livekit, sidecar: RelayProcess, n: number): Promise<Round> {
  const room = `!pass${n}:bench`;
  const [alice, bridge] = [`@alice:bench:A${n}`, `@_people_joe:bench:P${n}`];
  const all = new Map([
    [alice, randomBytes(16)],
    [bridge, randomBytes(16)],
  ]);
  const first = await participant(lk, room, alice, 440, 660, bridge);
  keys([first.leg], all);
  const stops: (() => unknown)[] = [];
  try {
    await sidecar.ensure(); // started before the clock, as a bridge's sidecar is after its first call
    const t0 = Date.now();
    const media = new RelayCallMedia(sidecar, { media: "video", iceServers: [] });
    stops.push(() => media.close());
    media.from(alice);
    await media.leg.connect(lk.wsUrl, await token(lk, room, bridge), { video: true, e2ee: true });
    for (const [id, key] of all) media.leg.setKey(id, key, 0);
    const joe = wrtcEngine.createPeer({
      media: "video",
      iceServers: [],
      relayOnly: false,
      audio: { tone: 660 },
    });
    stops.push(() => joe.close());
    const joeHears = new ToneDetector(440);
    joe.events.on("audio", (a) => joeHears.push(a.samples, a.channels));
    await connect(media.peer, joe);
    const [firstHearsMs, joinerHearsMs] = await Promise.all([
      eventually("alice hears joe", async () => (first.hears.found ? Date.now() - t0 : undefined), 60_000),
      eventually("joe hears alice", async () => (joeHears.found ? Date.now() - t0 : undefined), 60_000),
    ]);
    return { firstHearsMs, joinerHearsMs, ...(await cpuPerSecond(sidecar.pid)) };
  } finally {
    for (const stop of stops.reverse()) await stop();
    await first.stop();
  }
}

async function connect(caller: MediaPeer, callee: MediaPeer): Promise<void> {
  caller.events.on("candidate", (c) => void (c ? callee.addCandidate(c).catch(() => undefined) : undefined));
  callee.events.on("candidate", (c) => void (c ? caller.addCandidate(c).catch(() => undefined) : undefined));
  const answer = await callee.acceptOffer(await caller.createOffer());
  await caller.acceptAnswer(answer);
}

export async function runRtcRelayBench(): Promise<void> {
  console.log(
    `\n== rtc-relay: bridged MatrixRTC media path, join → first tone both ways, CPU (median of ${ROUNDS}) ==`,
  );
  const lk = await startLivekit();
  const sidecar = new RelayProcess({
    binary: await ensureRtcRelayBuilt(),
    log: createBridgeLogger("silent"),
  });
  try {
    const base: Round[] = [];
    const relayed: Round[] = [];
    const passed: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      base.push(await baselineRound(lk, i));
      relayed.push(await relayRound(lk, i));
      passed.push(await passthroughRound(lk, sidecar, i));
    }
    const m = (rs: Round[], k: keyof Round) => median(rs.map((r) => r[k]));
    const row = (name: string, rs: Round[]) => ({
      path: name,
      "first hears joiner (ms)": fmt(m(rs, "firstHearsMs"), 0),
      "joiner hears first (ms)": fmt(m(rs, "joinerHearsMs"), 0),
      "CPU ms/s, audio+video": fmt(m(rs, "cpuMsPerS"), 0),
      "of it the sidecar": fmt(m(rs, "sidecarMsPerS"), 0),
      "CPU vs transcode": fmt(m(rs, "cpuMsPerS") / m(relayed, "cpuMsPerS")),
      "ratio to baseline (hear / hear / CPU)": [
        fmt(m(rs, "firstHearsMs") / m(base, "firstHearsMs")),
        fmt(m(rs, "joinerHearsMs") / m(base, "joinerHearsMs")),
        fmt(m(rs, "cpuMsPerS") / m(base, "cpuMsPerS")),
      ].join(" / "),
    });
    table([
      row("baseline: 2 × rtc-node through LiveKit", base),
      row("transcode: rtc-node ⇄ LiveKit ⇄ bridge leg ⇄ relay ⇄ People leg ⇄ wrtc", relayed),
      row("passthrough: rtc-node ⇄ LiveKit ⇄ people-rtc-relay ⇄ wrtc", passed),
    ]);
  } finally {
    await sidecar.stop();
    await lk.stop();
  }
}
