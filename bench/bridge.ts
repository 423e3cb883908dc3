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
// (target ≥ 0.9× Synapse's), the two paths taking turns so both see the same
// load; where the bridged time goes (the bridge's own histograms per
// direction), the WAL fsyncs and the CPU time per round trip of the bridge process. BENCH_BRIDGE_CPU_PROF=<dir> writes a CPU profile
// of the bridge process there.
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
import { MatrixHttpUser, percentile, type RoundTrips } from "./matrix-http.js";

const PEOPLE_DOMAIN = "people.test";
const OTHER = "other.test";
const JOE = `joe@${OTHER}`;
const JOE_GHOST = "@_people_joe=40other.test:localhost";

/** Round trips timed one at a time, and in the throughput run. */
const LATENCY_SAMPLES = Number(process.env.BENCH_BRIDGE_SAMPLES ?? 200);
const RATE_MESSAGES = Number(process.env.BENCH_BRIDGE_MESSAGES ?? 400);
const WINDOW = 16;
const WARM_UP = 20;
/** The throughput runs alternate between the paths this many times. */
const RATE_ROUNDS = 4;
/** Linux's USER_HZ, the unit of /proc/<pid>/stat's CPU times. */
const CLOCK_TICKS = 100;

interface PathResult {
  p50: number;
  p99: number;
  rate: number;
}

/**
 * One-at-a-time round trips, the two paths taking turns (baseline, bridged, baseline, …): the
 * machine is shared and its load changes by the minute, so each path must see the same load.
 */
async function measureLatency(
  direct: RoundTrips,
  portal: RoundTrips,
  afterWarmUp: () => Promise<void>,
): Promise<[Pick<PathResult, "p50" | "p99">, Pick<PathResult, "p50" | "p99">]> {
  for (let i = 0; i < WARM_UP; i++) {
    await direct.roundTrip();
    await portal.roundTrip();
  }
  await afterWarmUp();
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    a.push(await direct.roundTrip());
    b.push(await portal.roundTrip());
  }
  const summary = (xs: number[]) => {
    xs.sort((x, y) => x - y);
    return { p50: percentile(xs, 0.5), p99: percentile(xs, 0.99) };
  };
  return [summary(a), summary(b)];
}

/** Seconds to do `count` round trips with WINDOW in flight. */
async function timeWindowed(path: RoundTrips, count: number): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: WINDOW }, async () => {
      while (next++ < count) await path.roundTrip();
    }),
  );
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Round trips per second with WINDOW in flight, the paths taking turns in RATE_ROUNDS rounds. */
async function measureRates(direct: RoundTrips, portal: RoundTrips): Promise<[number, number]> {
  const per = Math.ceil(RATE_MESSAGES / RATE_ROUNDS);
  let a = 0;
  let b = 0;
  for (let round = 0; round < RATE_ROUNDS; round++) {
    a += await timeWindowed(direct, per);
    b += await timeWindowed(portal, per);
  }
  return [(per * RATE_ROUNDS) / a, (per * RATE_ROUNDS) / b];
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
    const hs: SynapseHandle = await startSynapse({ appserviceRegistrations: [files.registrationPath] });
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
    const joe = await PeopleClient.create({ ...clientOptions(network, tempDir("bench-joe")), address: JOE });
    cleanup.push(async () => {
      await joe.close();
      removeTempDirs();
    });
    // Joe echoes every round trip back to its sender, without holding up the next message (as Bob does).
    joe.onMessage(async (m) => {
      if (m.content.type === "text" && m.content.body.startsWith("rt ")) {
        void joe.sendText([m.from], `echo ${m.content.body.slice(3)}`).catch((err: unknown) => {
          console.error("Joe's echo failed", err);
        });
      }
    });
    await joe.start();

    const alice = await MatrixHttpUser.register(hs, "alice");
    const bob = await MatrixHttpUser.register(hs, "bob");
    cleanup.push(() => alice.stop());
    cleanup.push(() => bob.stop());

    // Baseline room: Bob echoes.
    const direct = await alice.createDirectRoom(bob.userId);
    await bob.join(direct);
    bob.onMessage((roomId, sender, body) => {
      if (roomId === direct && sender === alice.userId && body.startsWith("rt ")) {
        void bob.sendText(direct, `echo ${body.slice(3)}`);
      }
    });
    // The portal: Alice invites Joe's ghost to a direct chat; the ghost joins.
    const portal = await alice.createDirectRoom(JOE_GHOST);
    await eventually(
      "Joe's ghost to join the portal",
      async () => ((await alice.joinedMembers(portal)).includes(JOE_GHOST) ? true : undefined),
      60_000,
    );
    await alice.start();
    await bob.start();

    const metricsUrl = bridge.logs.find((l) => l.msg === "bridge started")?.metrics;
    const figures = async (): Promise<Record<string, number>> => ({
      ...(await bridgeFigures(metricsUrl)),
      cpu: cpuSeconds(bridge.pid),
    });
    const direct$ = alice.roundTrips(direct, bob.userId);
    const portal$ = alice.roundTrips(portal, JOE_GHOST);
    let before: Record<string, number> = {};
    const [baselineLatency, bridgedLatency] = await measureLatency(direct$, portal$, async () => {
      before = await figures();
    });
    const after = await figures();
    const [baselineRate, bridgedRate] = await measureRates(direct$, portal$);
    const afterRate = await figures();
    const baseline: PathResult = { ...baselineLatency, rate: baselineRate };
    const bridged: PathResult = { ...bridgedLatency, rate: bridgedRate };
    assert.ok(bridged.rate > 0 && baseline.rate > 0);

    const added = bridged.p50 - baseline.p50;
    table([
      {
        path: "Matrix → Matrix (Synapse, baseline)",
        "p50 ms": fmt(baseline.p50),
        "p99 ms": fmt(baseline.p99),
        "round trips/s": fmt(baseline.rate, 1),
      },
      {
        path: "Matrix → People → Matrix (bridge)",
        "p50 ms": fmt(bridged.p50),
        "p99 ms": fmt(bridged.p99),
        "round trips/s": fmt(bridged.rate, 1),
      },
    ]);
    console.log(
      `bridge adds ${fmt(added)} ms at p50 (${fmt(bridged.p50 / baseline.p50)}× Synapse's round trip; target ≤ 1.1×), ` +
        `${fmt(bridged.p99 - baseline.p99)} ms at p99; ` +
        `rate ${fmt(bridged.rate / baseline.rate)}× Synapse's (target ≥ 0.9×). ` +
        `${LATENCY_SAMPLES} sequential round trips per path, the paths taking turns, then ${RATE_MESSAGES} ` +
        `per path with ${WINDOW} in flight, in ${RATE_ROUNDS} alternating rounds.`,
    );
    // Where the time goes, from the bridge's own histograms (means over each bridged run).
    const mean = (from: Record<string, number>, to: Record<string, number>, d: string) =>
      fmt(((to[`${d} sum`]! - from[`${d} sum`]!) / (to[`${d} count`]! - from[`${d} count`]!)) * 1000);
    for (const [what, from, to] of [
      ["one at a time", before, after],
      [`${WINDOW} in flight`, after, afterRate],
    ] as const) {
      const trips = to["to_matrix count"]! - from["to_matrix count"]!;
      console.log(
        `bridge's /metrics, means ${what}: Matrix origin_server_ts → envelope accepted by Joe's server ` +
          `${mean(from, to, "to_people")} ms; People message received → Matrix event sent ` +
          `${mean(from, to, "to_matrix")} ms; the rest (Synapse to the bridge, Joe's echo, Synapse to ` +
          `Alice) is the round trip less these. WAL fsyncs in the bridge process: ` +
          `${fmt((to.fsyncs! - from.fsyncs!) / trips, 1)} per round trip; its CPU (with the embedded People ` +
          `server) ${fmt(((to.cpu! - from.cpu!) / trips) * 1000)} ms per round trip.`,
      );
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

/** The bridge's latency histogram sums and counts by direction, and its WAL fsyncs so far. */
async function bridgeFigures(metricsUrl: unknown): Promise<Record<string, number>> {
  assert.ok(typeof metricsUrl === "string", "the bridge did not log its metrics URL");
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const d of ["to_people", "to_matrix"]) {
    for (const part of ["sum", "count"]) {
      const m = new RegExp(`^bridge_message_latency_seconds_${part}\\{direction="${d}"\\} (\\S+)$`, "m").exec(
        text,
      );
      out[`${d} ${part}`] = m ? Number(m[1]) : 0;
    }
  }
  out.fsyncs = Number(/^bridge_wal_fsyncs (\S+)$/m.exec(text)?.[1] ?? NaN);
  return out;
}
