// `npm run bench calls`: People ↔ People calls, and Element (headless
// Chromium) ↔ People through Synapse and the bridge both ways (calls-element.ts),
// against two plain WebRTC peers of the People stack (libwebrtc through
// @roamhq/wrtc) in the same run, direct on loopback and relay-only through coturn. Figures (medians of ROUNDS calls):
// offer → connected (the caller's call() or createOffer() until its media is
// up) and answer → first detected audio (the callee answers; the caller's
// decoded audio carries the callee's tone). The People figures add what the
// protocol adds: sealed signalling through two servers, trickle ICE in
// envelopes, and the signed-fingerprint check.
import { PeopleClient } from "../src/people/client/people-client.js";
import { ToneDetector } from "../src/people/client/calls/audio.js";
import type { IceServer, MediaPeer } from "../src/people/client/calls/media-engine.js";
import { wrtcEngine } from "../src/people/client/calls/wrtc-engine.js";
import { turnCredentials } from "../src/people/server/turn-credentials.js";
import { coturn, stopCoturn } from "../test/helpers/coturn.js";
import { startLinkedServers, type TestServer } from "../test/helpers/people-servers.js";
import {
  clientOptions,
  networkOf,
  removeTempDirs,
  tempDir,
  waitUntil,
} from "../test/helpers/client-fixtures.js";
import { startElementBench, type ElementBench } from "./calls-element.js";
import { fmt, table } from "./harness.js";

const ROUNDS = 5;
const LIMIT_MS = 60_000;
const TONE = 880;

interface Round {
  connectedMs: number;
  audioMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Two wrtc peers with signalling handed over in memory. */
async function plainRound(iceServers: IceServer[], relayOnly: boolean): Promise<Round> {
  const caller = wrtcEngine.createPeer({ media: "voice", iceServers, relayOnly, audio: { silence: true } });
  const callee = wrtcEngine.createPeer({ media: "voice", iceServers, relayOnly, audio: { tone: TONE } });
  try {
    const wire = (from: MediaPeer, to: MediaPeer) =>
      from.events.on("candidate", (c) => c && void to.addCandidate(c).catch(() => undefined));
    wire(caller, callee);
    wire(callee, caller);
    const heard = new ToneDetector(TONE);
    caller.events.on("audio", (a) => heard.push(a.samples, a.channels));
    let connected = false;
    caller.events.on("state", (s) => (connected ||= s === "connected"));
    const start = performance.now();
    const offer = await caller.createOffer();
    const answerAt = performance.now();
    const answer = await callee.acceptOffer(offer);
    await caller.acceptAnswer(answer);
    await waitUntil(() => connected, "plain peers connected", LIMIT_MS);
    const connectedMs = performance.now() - start;
    await waitUntil(() => heard.found, "plain caller hears the tone", LIMIT_MS);
    return { connectedMs, audioMs: performance.now() - answerAt };
  } finally {
    caller.close();
    callee.close();
  }
}

async function peopleRound(jane: PeopleClient, joe: PeopleClient, relayOnly: boolean): Promise<Round> {
  const ringing = joe.calls.events.once("incoming");
  const start = performance.now();
  const call = await jane.calls.call(joe.address, { relayOnly });
  const heard = new ToneDetector(TONE);
  call.on("audio", (a) => heard.push(a.samples, a.channels));
  const ring = await ringing;
  const answerAt = performance.now();
  const answered = await joe.calls.answer(ring.session, { audio: { tone: TONE }, relayOnly });
  await call.whenActive();
  const connectedMs = performance.now() - start;
  await waitUntil(() => heard.found, "jane hears joe's tone", LIMIT_MS);
  const audioMs = performance.now() - answerAt;
  const ended = answered.whenEnded();
  await call.hangup();
  await ended;
  return { connectedMs, audioMs };
}

async function rounds(fn: () => Promise<Round>): Promise<{ connected: number; audio: number }> {
  const all: Round[] = [];
  for (let i = 0; i < ROUNDS; i++) all.push(await fn());
  return { connected: median(all.map((r) => r.connectedMs)), audio: median(all.map((r) => r.audioMs)) };
}

export async function runCallsBench(): Promise<void> {
  console.log(
    `\n== Calls: People ↔ People, Element → People and People → Element against two plain wrtc peers (median of ${ROUNDS}) ==`,
  );
  let servers: TestServer[] = [];
  const clients: PeopleClient[] = [];
  let element: ElementBench | undefined;
  try {
    const turn = await coturn();
    const ice = (address: string) => {
      const c = turnCredentials({
        uris: turn.uris,
        secret: turn.secret,
        address,
        now: Date.now(),
        ttlMs: 3_600_000,
      });
      return [{ urls: c.uris, username: c.username, credential: c.password }];
    };
    servers = await startLinkedServers(["a.test", "b.test"], { config: { turn: turn.config() } });
    const network = networkOf(servers);
    for (const address of ["jane@a.test", "joe@b.test"]) {
      const c = await PeopleClient.create({
        ...clientOptions(network, tempDir(address)),
        mediaEngine: wrtcEngine,
        address,
      });
      await c.start();
      clients.push(c);
    }
    const [jane, joe] = clients as [PeopleClient, PeopleClient];
    element = await startElementBench(turn);
    const el = element;
    const rows: Record<string, string | number>[] = [];
    for (const relayOnly of [false, true]) {
      const path = relayOnly ? "relay-only (coturn)" : "direct";
      const plain = await rounds(() => plainRound(ice("bench@plain"), relayOnly));
      const people = await rounds(() => peopleRound(jane, joe, relayOnly));
      const viaBridge = await rounds(() => el.round(relayOnly));
      const fromPeople = await rounds(() => el.reverseRound(relayOnly));
      rows.push(
        {
          path,
          pair: "wrtc ↔ wrtc",
          "offer→connected ms": fmt(plain.connected, 0),
          "answer→audio ms": fmt(plain.audio, 0),
          ratio: "1.00 / 1.00",
        },
        {
          path,
          pair: "People ↔ People",
          "offer→connected ms": fmt(people.connected, 0),
          "answer→audio ms": fmt(people.audio, 0),
          ratio: `${fmt(people.connected / plain.connected)} / ${fmt(people.audio / plain.audio)}`,
        },
        {
          path,
          pair: "Element → People (bridge)",
          "offer→connected ms": fmt(viaBridge.connected, 0),
          "answer→audio ms": fmt(viaBridge.audio, 0),
          ratio: `${fmt(viaBridge.connected / plain.connected)} / ${fmt(viaBridge.audio / plain.audio)}`,
        },
        {
          path,
          pair: "People → Element (bridge)",
          "offer→connected ms": fmt(fromPeople.connected, 0),
          "answer→audio ms": fmt(fromPeople.audio, 0),
          ratio: `${fmt(fromPeople.connected / plain.connected)} / ${fmt(fromPeople.audio / plain.audio)}`,
        },
      );
    }
    table(rows);
  } finally {
    await element?.stop().catch(() => undefined);
    for (const c of clients) await c.close().catch(() => undefined);
    for (const s of servers) await s.stop();
    await stopCoturn();
    removeTempDirs();
  }
}
