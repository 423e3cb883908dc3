// Bridge part of `npm run bench`: Matrix → People → Matrix round trips through
// the bridge, against Synapse's own Matrix → Matrix round trip measured in the
// same run as the baseline.
//
// The real parts: Synapse from .cache (test/helpers/synapse.ts), the bridge as
// its real command in a child process (so the load generator does not share
// its event loop), a second People server with Joe's PeopleClient echoing
// every message back. Both paths use the same plain HTTP Matrix client
// (bench/matrix-http.ts: PUT /send and a /sync long-poll), so the ratio
// compares the paths and not two client libraries:
//   baseline: Alice → Bob (a Matrix user echoing) → Alice
//   bridged:  Alice → joe@other.test (through the bridge and People) → Alice
// Figures: round-trip p50/p99 one message at a time, the time the bridge adds
// at p50 (target ≤ 1.1× Synapse's round trip), and round trips per second with WINDOW in flight
// (target ≥ 0.9× Synapse's; also against Carol, a Matrix user echoing each room's messages one
// after another, in order, as Element's send queue and the bridge do) in one conversation (one
// portal against one Alice/Bob room) and in
// CONVERSATIONS of them (as many portals, each with its own People correspondent, against as many
// Alice/Bob rooms; the same WINDOW in flight, spread over them), the two paths taking turns so both
// see the same load. Where the bridged time goes: each round trip split at the far end (when Bob or
// Joe saw the message, in this process's clock) into its way out and its way back, for both paths;
// Synapse's own appservice push timed against its /sync (bench/push-probe.ts);
// inside the bridge, its own histograms per direction and per homeserver transaction, the WAL fsyncs,
// the SQLite statements (per database; each statement too with PEOPLE_BRIDGE_SQL_STATEMENTS=1) and
// the CPU time per round trip of the bridge process; and how many echoes on each path came after the
// echo of a message their sender saw later (Bob's sends run concurrently: nothing promises their
// order). BENCH_BRIDGE_CPU_PROF=<dir> writes a CPU profile of the bridge process there.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { BridgeConfigInput } from "../src/bridge/config.js";
import { PeopleClient } from "../src/people/client/people-client.js";
import {
  bridgeConfigInput,
  bridgeProcess,
  eventually,
  generateRegistrationWithCli,
  makeBridgeDir,
  writeConfigFile,
  type BridgeProcess,
} from "../test/helpers/bridge-harness.js";
import { clientOptions, removeTempDirs, tempDir } from "../test/helpers/client-fixtures.js";
import { startTestServer, type TestServer } from "../test/helpers/people-servers.js";
import { freePort } from "../test/helpers/ports.js";
import { ensureSynapseInstalled, startSynapse, type SynapseHandle } from "../test/helpers/synapse.js";
import { fmt, table } from "./harness.js";
import { FarEnd, MatrixHttpUser, median, percentile, type RoundTrips } from "./matrix-http.js";
import { PushProbe, type PushTiming } from "./push-probe.js";

const PEOPLE_DOMAIN = "people.test";
const OTHER = "other.test";
/** The People correspondents: the first is the one-conversation figures' Joe. */
const joeAddress = (i: number) => `joe${i === 0 ? "" : i + 1}@${OTHER}`;
const ghostOf = (address: string) => `@_people_${address.replace("@", "=40")}:localhost`;

/** Round trips timed one at a time, and in the throughput run. */
const LATENCY_SAMPLES = Number(process.env.BENCH_BRIDGE_SAMPLES ?? 200);
const RATE_MESSAGES = Number(process.env.BENCH_BRIDGE_MESSAGES ?? 400);
const WINDOW = 16;
const WARM_UP = 20;
/** Conversations in the second throughput figure (portals, and Alice/Bob rooms for the baseline). */
const CONVERSATIONS = Number(process.env.BENCH_BRIDGE_CONVERSATIONS ?? 8);
/** The throughput runs alternate between the paths this many times. */
const RATE_ROUNDS = 4;
/** Linux's USER_HZ, the unit of /proc/<pid>/stat's CPU times. */
const CLOCK_TICKS = 100;

interface Latency {
  p50: number;
  p99: number;
  /** p50 of the way out (send → the far end saw it) and of the way back (far end → echo at Alice). */
  out: number;
  back: number;
}

/**
 * One-at-a-time round trips, the two paths taking turns (baseline, bridged, baseline, …): the
 * machine is shared and its load changes by the minute, so each path must see the same load.
 */
async function measureLatency(
  direct: RoundTrips,
  portal: RoundTrips,
  afterWarmUp: () => Promise<void>,
): Promise<[Latency, Latency]> {
  for (let i = 0; i < WARM_UP; i++) {
    await direct.roundTrip();
    await portal.roundTrip();
  }
  await afterWarmUp();
  const a: [number, number][] = [];
  const b: [number, number][] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    a.push([await direct.roundTrip(), direct.outbound.at(-1)!]);
    b.push([await portal.roundTrip(), portal.outbound.at(-1)!]);
  }
  const summary = (xs: [number, number][]): Latency => {
    const total = xs.map(([t]) => t).sort((x, y) => x - y);
    return {
      p50: percentile(total, 0.5),
      p99: percentile(total, 0.99),
      out: median(xs.map(([, o]) => o)),
      back: median(xs.map(([t, o]) => t - o)),
    };
  };
  return [summary(a), summary(b)];
}

/** Seconds to do `count` round trips with WINDOW in flight, spread evenly over `paths`. */
async function timeWindowed(paths: readonly RoundTrips[], count: number): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: WINDOW }, async (_, w) => {
      const path = paths[w % paths.length]!;
      while (next++ < count) await path.roundTrip();
    }),
  );
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Round trips per second with WINDOW in flight, for each path, the paths taking turns in RATE_ROUNDS rounds. */
async function measureRates(paths: readonly (readonly RoundTrips[])[]): Promise<number[]> {
  const per = Math.ceil(RATE_MESSAGES / RATE_ROUNDS);
  const seconds = paths.map(() => 0);
  for (let round = 0; round < RATE_ROUNDS; round++) {
    for (const [i, path] of paths.entries()) seconds[i]! += await timeWindowed(path, per);
  }
  return seconds.map((s) => (per * RATE_ROUNDS) / s);
}

export async function runBridgeBench(): Promise<void> {
  console.log(
    "\n== bridge: Matrix → People → Matrix round trips, against Matrix → Matrix on the same Synapse ==",
  );
  await ensureSynapseInstalled();
  const cleanup: (() => Promise<void> | void)[] = [];
  try {
    const other: TestServer = await startTestServer(OTHER);
    cleanup.push(() => other.stop());
    const files = makeBridgeDir();
    cleanup.push(() => files.remove());
    const appservicePort = await freePort();
    const peoplePort = await freePort();
    const base = bridgeConfigInput(files.dir, {
      homeserverUrl: "http://127.0.0.1:9",
      appservicePort,
      peopleDomain: PEOPLE_DOMAIN,
      permissions: { localhost: "user" },
    });
    const input: BridgeConfigInput = {
      ...base,
      // "connected to the homeserver" (info) tells the harness the bridge is up; per-message logs are debug.
      logging: { level: "info" },
      people: {
        ...base.people!,
        listen: { host: "127.0.0.1", port: peoplePort },
        discovery: {
          pins: { [OTHER]: `127.0.0.1:${other.handle.port}` },
          ca_files: [join(other.dataDir, "tls", "dev-cert.pem")],
        },
      },
    };
    writeConfigFile(files.configPath, input);
    await generateRegistrationWithCli(files, `http://127.0.0.1:${appservicePort}`);
    const probe = await PushProbe.start(files.dir);
    cleanup.push(() => probe.stop());
    const hs: SynapseHandle = await startSynapse({
      appserviceRegistrations: [files.registrationPath, probe.registrationPath],
    });
    cleanup.push(() => hs.stop());
    writeConfigFile(files.configPath, { ...input, homeserver: { url: hs.url, domain: hs.serverName } });

    const profileDir = process.env.BENCH_BRIDGE_CPU_PROF;
    const savedOptions = process.env.NODE_OPTIONS;
    if (profileDir) {
      mkdirSync(profileDir, { recursive: true });
      process.env.NODE_OPTIONS = `${savedOptions ?? ""} --cpu-prof --cpu-prof-dir=${resolve(profileDir)}`;
    }
    const bridge: BridgeProcess = bridgeProcess(files);
    try {
      await bridge.start();
    } finally {
      if (profileDir) process.env.NODE_OPTIONS = savedOptions;
    }
    // SIGTERM: the bridge stops cleanly (and writes its CPU profile).
    cleanup.push(() => bridge.kill("SIGTERM"));

    const network = {
      pins: {
        [OTHER]: `127.0.0.1:${other.handle.port}`,
        [PEOPLE_DOMAIN]: `127.0.0.1:${peoplePort}`,
      },
      ca: [other.handle.certificate, readFileSync(join(files.dir, "data", "tls", "dev-cert.pem"), "utf8")],
    };
    cleanup.push(() => removeTempDirs());
    // Joe and the other correspondents echo every round trip back to its sender, without holding up
    // the next message (as Bob does); each tells `far` when it saw the message.
    const far = new FarEnd();
    const joes: PeopleClient[] = [];
    for (let i = 0; i < CONVERSATIONS; i++) {
      const joe = await PeopleClient.create({
        ...clientOptions(network, tempDir(`bench-joe${i}`)),
        address: joeAddress(i),
      });
      cleanup.push(() => joe.close());
      joe.onMessage(async (m) => {
        if (m.content.type === "text" && m.content.body.startsWith("rt ")) {
          far.saw(m.content.body);
          void joe.sendText([m.from], `echo ${m.content.body.slice(3)}`).catch((err: unknown) => {
            console.error("Joe's echo failed", err);
          });
        }
      });
      await joe.start();
      joes.push(joe);
    }

    const alice = await MatrixHttpUser.register(hs, "alice");
    const bob = await MatrixHttpUser.register(hs, "bob");
    // Carol echoes like Bob, but one message after another in each room, in order, as Element's
    // and Element X's send queues do and as the bridge must: the like-for-like rate baseline.
    const carol = await MatrixHttpUser.register(hs, "carol");
    cleanup.push(() => alice.stop());
    cleanup.push(() => bob.stop());
    cleanup.push(() => carol.stop());

    // Baseline rooms: Bob echoes in each.
    const directRooms: string[] = [];
    for (let i = 0; i < CONVERSATIONS; i++) {
      const room = await alice.createDirectRoom(bob.userId);
      await bob.join(room);
      directRooms.push(room);
    }
    bob.onMessage((roomId, sender, body) => {
      if (directRooms.includes(roomId) && sender === alice.userId && body.startsWith("rt ")) {
        far.saw(body);
        void bob.sendText(roomId, `echo ${body.slice(3)}`);
      }
    });
    const orderedRooms: string[] = [];
    for (let i = 0; i < CONVERSATIONS; i++) {
      const room = await alice.createDirectRoom(carol.userId);
      await carol.join(room);
      orderedRooms.push(room);
    }
    const carolQueues = new Map<string, Promise<void>>();
    carol.onMessage((roomId, sender, body) => {
      if (orderedRooms.includes(roomId) && sender === alice.userId && body.startsWith("rt ")) {
        far.saw(body);
        const send = () => carol.sendText(roomId, `echo ${body.slice(3)}`);
        carolQueues.set(roomId, (carolQueues.get(roomId) ?? Promise.resolve()).then(send, send));
      }
    });
    // The portals: Alice invites each correspondent's ghost to a direct chat; the ghost joins.
    const portals: string[] = [];
    for (let i = 0; i < CONVERSATIONS; i++) {
      const ghost = ghostOf(joeAddress(i));
      const portal = await alice.createDirectRoom(ghost);
      await eventually(
        `${ghost} to join its portal`,
        async () => ((await alice.joinedMembers(portal)).includes(ghost) ? true : undefined),
        60_000,
      );
      portals.push(portal);
    }
    await alice.start();
    await bob.start();
    await carol.start();

    const metricsUrl = bridge.logs.find((l) => l.msg === "bridge started")?.metrics;
    const figures = async (): Promise<Figures> => ({
      ...(await bridgeFigures(metricsUrl)),
      cpu: cpuSeconds(bridge.pid),
    });
    const direct$ = directRooms.map((room) => alice.roundTrips(room, bob.userId, far));
    const ordered$ = orderedRooms.map((room) => alice.roundTrips(room, carol.userId, far));
    const portal$ = portals.map((room, i) => alice.roundTrips(room, ghostOf(joeAddress(i)), far));
    let before: Figures = {};
    const [baseline, bridged] = await measureLatency(direct$[0]!, portal$[0]!, async () => {
      before = await figures();
    });
    const after = await figures();
    const push: PushTiming = await probe.measure(hs, alice, bob, LATENCY_SAMPLES);
    const [baselineRate, bridgedRate, orderedRate] = (await measureRates([
      direct$.slice(0, 1),
      portal$.slice(0, 1),
      ordered$.slice(0, 1),
    ])) as [number, number, number];
    const afterRate = await figures();
    const [baselineRateK, bridgedRateK, orderedRateK] = (await measureRates([
      direct$,
      portal$,
      ordered$,
    ])) as [number, number, number];
    const afterRateK = await figures();
    assert.ok(
      [baselineRate, bridgedRate, orderedRate, baselineRateK, bridgedRateK, orderedRateK].every(
        (r) => r! > 0,
      ),
    );

    const row = (path: string, l: Latency, rate: number, rateK: number) => ({
      path,
      "p50 ms": fmt(l.p50),
      "p99 ms": fmt(l.p99),
      "out p50 ms": fmt(l.out),
      "back p50 ms": fmt(l.back),
      "rt/s, 1 conv.": fmt(rate, 1),
      [`rt/s, ${CONVERSATIONS} conv.`]: fmt(rateK, 1),
    });
    const ratio = (a: number, b: number) => `${fmt(a / b)}×`;
    table([
      row("Matrix → Matrix (Synapse, baseline)", baseline, baselineRate, baselineRateK),
      row("Matrix → People → Matrix (bridge)", bridged, bridgedRate, bridgedRateK),
      {
        path: "bridge / baseline",
        "p50 ms": ratio(bridged.p50, baseline.p50),
        "p99 ms": ratio(bridged.p99, baseline.p99),
        "out p50 ms": ratio(bridged.out, baseline.out),
        "back p50 ms": ratio(bridged.back, baseline.back),
        "rt/s, 1 conv.": ratio(bridgedRate, baselineRate),
        [`rt/s, ${CONVERSATIONS} conv.`]: ratio(bridgedRateK, baselineRateK),
      },
      {
        path: "Matrix → Matrix, echoes in order (Carol)",
        "rt/s, 1 conv.": fmt(orderedRate, 1),
        [`rt/s, ${CONVERSATIONS} conv.`]: fmt(orderedRateK, 1),
      },
      {
        path: "bridge / in order",
        "rt/s, 1 conv.": ratio(bridgedRate, orderedRate),
        [`rt/s, ${CONVERSATIONS} conv.`]: ratio(bridgedRateK, orderedRateK),
      },
    ]);
    console.log(
      `bridge adds ${fmt(bridged.p50 - baseline.p50)} ms at p50 (${fmt(bridged.p50 / baseline.p50)}× ` +
        `Synapse's round trip; target ≤ 1.1×), ${fmt(bridged.p99 - baseline.p99)} ms at p99; rate ` +
        `${fmt(bridgedRate / baselineRate)}× Synapse's in one conversation, ` +
        `${fmt(bridgedRateK / baselineRateK)}× in ${CONVERSATIONS} (target ≥ 0.9×); against Carol, who ` +
        `like the bridge sends each room's messages in order: ${fmt(bridgedRate / orderedRate)}× and ` +
        `${fmt(bridgedRateK / orderedRateK)}×. ` +
        `${LATENCY_SAMPLES} sequential round trips per path, the paths taking turns, then ${RATE_MESSAGES} ` +
        `per path with ${WINDOW} in flight in 1 and in ${CONVERSATIONS} conversations, each in ` +
        `${RATE_ROUNDS} alternating rounds.`,
    );
    // Whether each path kept the order in which its far end saw the messages. Bob sends concurrently,
    // which no Matrix API promises to keep in order; Carol and the bridge send one after another.
    const reordering = (path: string, trips: readonly RoundTrips[]) => {
      const echoes = trips.reduce((n, t) => n + t.order.echoes, 0);
      const reordered = trips.reduce((n, t) => n + t.order.reordered, 0);
      return `${path} ${reordered} of ${echoes}`;
    };
    console.log(
      `Echoes that reached Alice after the echo of a message their sender saw later: ` +
        `${[
          reordering("Bob's", direct$),
          reordering("Carol's", ordered$),
          reordering("the bridge's", portal$),
        ].join(", ")}.`,
    );
    console.log(
      `One at a time, split where the far end saw the message (p50s): the way out takes ` +
        `${fmt(bridged.out)} ms through Synapse's appservice push, the bridge and People to Joe's device, ` +
        `against ${fmt(baseline.out)} ms from Synapse to Bob's /sync (${fmt(bridged.out - baseline.out)} ` +
        `ms added); the way back ${fmt(bridged.back)} ms from Joe's send through People, the bridge and ` +
        `the ghost's send to Alice's /sync, against ${fmt(baseline.back)} ms from Bob's send ` +
        `(${fmt(bridged.back - baseline.back)} ms added).`,
    );
    console.log(
      `Synapse's own appservice push, timed by a second, empty appservice whose bot shares a room with ` +
        `Alice and Bob (${push.samples} messages one at a time, p50s): ${fmt(push.push)} ms from Alice's ` +
        `send to the push, ${fmt(push.sync)} ms to Bob's /sync; the push comes ${fmt(push.later)} ms after ` +
        `the /sync. So of the ${fmt(bridged.out - baseline.out)} ms the bridge's way out adds, about ` +
        `${fmt(push.later)} ms are the homeserver's push path, which any appservice pays.`,
    );
    // Inside the bridge, from its own histograms (means over each bridged run).
    for (const [what, from, to] of [
      ["one at a time", before, after],
      [`${WINDOW} in flight, 1 conversation`, after, afterRate],
      [`${WINDOW} in flight, ${CONVERSATIONS} conversations`, afterRate, afterRateK],
    ] as const) {
      console.log(`bridge's /metrics, ${what}: ${insideTheBridge(from, to)}`);
      const statements = statementsPerTrip(from, to);
      if (statements.length > 0) console.log(`statements per round trip, ${what}:\n${statements.join("\n")}`);
    }
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
}

/** User + system CPU seconds of a process so far (Linux /proc; NaN elsewhere). */
function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // After the command's ")": state is the 1st field, utime the 12th and stime the 13th (clock ticks).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

type Figures = Record<string, number>;

/** What the bridge's /metrics say about a run: means per direction and transaction, fsyncs and CPU per round trip. */
function insideTheBridge(from: Figures, to: Figures): string {
  const delta = (k: string) => to[k]! - from[k]!;
  const mean = (d: string) => fmt((delta(`${d} sum`) / delta(`${d} count`)) * 1000);
  const trips = delta("to_matrix count");
  return (
    `Matrix origin_server_ts → envelope accepted by Joe's server ${mean("to_people")} ms; ` +
    `People message handed to the portal → Matrix event sent ${mean("to_matrix")} ms; ` +
    `${fmt(delta("txn count") / trips)} homeserver transactions per round trip, ${mean("txn")} ms each ` +
    `to apply (events handled, recorded, fsynced). WAL fsyncs in the bridge process ` +
    `${fmt(delta("fsyncs") / trips, 1)} per round trip; SQL statements per round trip ` +
    `${SQL_DBS.map((db) => `${db} ${fmt(delta(`sql ${db}`) / trips, 1)}`).join(", ")}; its CPU (with the embedded People server) ` +
    `${fmt((delta("cpu") / trips) * 1000)} ms per round trip.`
  );
}

/** The bridge's latency and transaction histogram sums and counts, and its WAL fsyncs so far. */
async function bridgeFigures(metricsUrl: unknown): Promise<Figures> {
  assert.ok(typeof metricsUrl === "string", "the bridge did not log its metrics URL");
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const out: Figures = {};
  const read = (re: string) => Number(new RegExp(`^${re} (\\S+)$`, "m").exec(text)?.[1] ?? 0);
  for (const d of ["to_people", "to_matrix"]) {
    for (const part of ["sum", "count"]) {
      out[`${d} ${part}`] = read(`bridge_message_latency_seconds_${part}\\{direction="${d}"\\}`);
    }
  }
  out["txn sum"] = read("bridge_transaction_seconds_sum");
  out["txn count"] = read("bridge_transaction_seconds_count");
  out.fsyncs = Number(/^bridge_wal_fsyncs (\S+)$/m.exec(text)?.[1] ?? NaN);
  for (const db of SQL_DBS) out[`sql ${db}`] = read(`bridge_sql_statements\\{db="${db}"\\}`);
  // With PEOPLE_BRIDGE_SQL_STATEMENTS=1 in the environment, the bridge counts each statement too.
  for (const m of text.matchAll(
    /^bridge_sql_statement_runs\{db="([^"]*)",sql="((?:[^"\\]|\\.)*)"\} (\S+)$/gm,
  )) {
    out[`stmt ${m[1]}\t${m[2]!.replace(/\\n/g, " ").replace(/\\(.)/g, "$1")}`] = Number(m[3]);
  }
  return out;
}

/** The bridge process's SQLite databases, as its statement counts name them. */
const SQL_DBS = ["bridge", "people_server", "people_client"] as const;

/** The statements run per round trip between two figures, most frequent first (PEOPLE_BRIDGE_SQL_STATEMENTS=1). */
function statementsPerTrip(from: Figures, to: Figures): string[] {
  const trips = to["to_matrix count"]! - from["to_matrix count"]!;
  return Object.keys(to)
    .filter((k) => k.startsWith("stmt "))
    .map((k) => [k.slice(5), (to[k]! - (from[k] ?? 0)) / trips] as const)
    .filter(([, n]) => n >= 0.05)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `  ${fmt(n, 2).padStart(6)}  ${k.slice(0, 200)}`);
}
