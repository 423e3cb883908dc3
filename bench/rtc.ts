// `npm run bench -- rtc`: MatrixRTC (Element Call over LiveKit) join → first detected audio, both
// ways, for the bridge's LiveKit leg (src/bridge/adapters/rtc/livekit-leg.ts: rtc-node, per-participant
// keys through the FFI) against an Element Call browser, next to the baseline measured in the
// same run: two Element Call browsers (livekit-client in headless Chromium) in the same call.
// Both through the same livekit-server with per-participant end-to-end keys. The clock starts
// when the second participant starts joining (the first is already in the call and sending);
// "heard" is a stable tone detected (AnalyserNode in the page, Goertzel on rtc-node's PCM).
//
// What this does not measure yet: the People leg behind the bridge's LiveKit leg (the bridge
// does not carry MatrixRTC calls to People devices yet; see docs/ARCHITECTURE.md).
import { randomBytes } from "node:crypto";
import type { Room } from "matrix-js-sdk";
import { LivekitLeg } from "../src/bridge/adapters/rtc/livekit-leg.js";
import { ToneDetector, toneFrames } from "../src/people/client/calls/audio.js";
import { ElementCall } from "../test/helpers/element-call-user.js";
import { eventually, hearsTone, startRtcWorld, type RtcWorld } from "../test/helpers/rtc-world.js";
import { fmt, table } from "./harness.js";

const ROUNDS = 3;
const LIMIT_MS = 60_000;

interface Round {
  /** The first participant hears the joiner. */
  firstHearsMs: number;
  /** The joiner hears the first participant. */
  joinerHearsMs: number;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function roomOf(w: RtcWorld, who: "alice" | "bob"): Room {
  const room = w[who].client.getRoom(w.roomId);
  if (!room) throw new Error(`${who} has no room`);
  return room;
}

/** Alice is in the call; Bob joins from his browser. */
async function browsersRound(w: RtcWorld): Promise<Round> {
  const alice = new ElementCall(w.alice.client, roomOf(w, "alice"), w.browser);
  const bob = new ElementCall(w.bob.client, roomOf(w, "bob"), w.browser);
  const alicePage = await alice.join(w.focus, { toneHz: 440, video: false });
  try {
    const t0 = Date.now();
    const joining = bob.join(w.focus, { toneHz: 660, video: false });
    const bobPage = await joining;
    const [firstHearsMs, joinerHearsMs] = await Promise.all([
      hearsTone(alicePage, bob.identity, 660, LIMIT_MS).then(() => Date.now() - t0),
      hearsTone(bobPage, alice.identity, 440, LIMIT_MS).then(() => Date.now() - t0),
    ]);
    return { firstHearsMs, joinerHearsMs };
  } finally {
    await bob.hangup();
    await alice.hangup();
  }
}

/** Alice is in the call; the bridge's leg joins (token, connection, keys) and sends its tone. */
async function legRound(w: RtcWorld, n: number): Promise<Round> {
  const alice = new ElementCall(w.alice.client, roomOf(w, "alice"), w.browser);
  const alicePage = await alice.join(w.focus, { toneHz: 440, video: false });
  const own = await eventually("alice's key", async () => alice.keys.get(alice.identity), LIMIT_MS);
  const leg = new LivekitLeg();
  const heard = new ToneDetector(440);
  leg.on("audio", (_id, pcm) => heard.push(pcm));
  const tone = toneFrames(880);
  let sender: NodeJS.Timeout | undefined;
  try {
    const t0 = Date.now();
    const { url, jwt, identity } = await w.tokenFor(`bench-leg-${n}`);
    const key = randomBytes(16);
    await leg.connect(url, jwt);
    leg.setKey(identity, key, 0);
    leg.setKey(alice.identity, own.key, own.index);
    await alicePage.setKey(identity, key, 0);
    sender = setInterval(() => void leg.sendPcm(tone()).catch(() => undefined), 10);
    const [firstHearsMs, joinerHearsMs] = await Promise.all([
      hearsTone(alicePage, identity, 880, LIMIT_MS).then(() => Date.now() - t0),
      eventually("the leg hears alice", async () => (heard.found ? Date.now() - t0 : undefined), LIMIT_MS),
    ]);
    return { firstHearsMs, joinerHearsMs };
  } finally {
    clearInterval(sender);
    await leg.close();
    await alice.hangup();
  }
}

export async function runRtcBench(): Promise<void> {
  console.log("\n== rtc: MatrixRTC join → first detected audio, both ways (median of 3) ==");
  const w = await startRtcWorld();
  try {
    const base: Round[] = [];
    const legs: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      base.push(await browsersRound(w));
      legs.push(await legRound(w, i));
    }
    const row = (name: string, rounds: Round[], ref: Round[]) => {
      const first = median(rounds.map((r) => r.firstHearsMs));
      const joiner = median(rounds.map((r) => r.joinerHearsMs));
      return {
        pair: name,
        "caller hears joiner (ms)": fmt(first, 0),
        "joiner hears caller (ms)": fmt(joiner, 0),
        "ratio to baseline": `${fmt(first / median(ref.map((r) => r.firstHearsMs)))} / ${fmt(
          joiner / median(ref.map((r) => r.joinerHearsMs)),
        )}`,
      };
    };
    table([
      row("baseline: 2 × Element Call (Chromium + livekit-client)", base, base),
      row("Element Call ↔ bridge LiveKit leg (rtc-node)", legs, base),
    ]);
  } finally {
    await w.stop();
  }
}
