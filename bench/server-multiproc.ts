// `npm run bench -- server` (also alone as `server-multiproc`): a People domain
// on 1 and on 2 server processes (the real command, cluster.enabled, one
// PostgreSQL) behind HAProxy, measured in the same run: durable ingest
// throughput with 32 concurrent senders, and live push latency (POST sent →
// frame received) to devices connected through the balancer, so on either
// process. Printed as the ratio of 2 processes to 1. The load generator runs on
// the same cores as the servers: its own CPU time (process.cpuUsage) is shown.
// Then relay frames across processes (server-relay-multiproc.ts); BENCH_RELAY_ONLY=1
// runs only those.
import { Agent, request } from "node:https";
import { stopTestPostgres, testPostgres } from "../test/helpers/postgres.js";
import { startHaproxy } from "../test/helpers/haproxy.js";
import { envelopeKeyOf, login, registerAccount, type TestServer } from "../test/helpers/people-servers.js";
import { makeAccount, seal, type Account } from "../test/helpers/protocol-fixtures.js";
import { startServerCluster } from "../test/helpers/server-cluster.js";
import { fmt } from "./harness.js";
import { LivePushes } from "./live-push.js";
import { measureRelay, type RelayRun } from "./server-relay-multiproc.js";

const DOMAIN = "multi.bench";
const INGEST = 4000;
const SENDERS = 32;
const DEVICES = 200;
const PUSHES = 300;

interface Run {
  setup: string;
  ingestPerSec: number;
  ingestCpu: number;
  p50: number;
  p99: number;
  pushCpu: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Load-generator CPU over a phase, as a share of one core during it. */
async function withCpu<T>(fn: () => Promise<T>): Promise<{ value: T; cpu: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = await fn();
  const used = process.cpuUsage(cpu0);
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  return { value, cpu: (used.user + used.system) / wallUs };
}

async function measure(processes: number, cluster: boolean): Promise<Run> {
  const database = await (await testPostgres()).createDatabase(`bench-mp-${processes}`);
  const servers = await startServerCluster({
    domain: DOMAIN,
    processes,
    database,
    people: {
      cluster: { enabled: cluster },
      log: { level: "warn" },
      limits: { ingest_per_minute_per_ip: 100_000_000, ingest_per_minute_per_recipient: 100_000_000 },
    },
  });
  const proxy = await startHaproxy(servers.processes.map((p) => p.port));
  const url = `https://127.0.0.1:${proxy.port}`;
  const target = { url, http: servers.http, domain: DOMAIN } as unknown as TestServer;
  const agent = new Agent({ keepAlive: true, maxSockets: 64, ca: [servers.certificate] });
  const live = new LivePushes();
  try {
    const key = await envelopeKeyOf(target);
    const jane = makeAccount("jane@elsewhere.bench", Date.now(), { devices: 1 });
    const recipients: Account[] = [];
    for (let i = 0; i < 20; i++) recipients.push(await registerAccount(target, `r${i}`, 10));
    const sealTo = (to: Account, device: number) =>
      seal({
        from: jane,
        to: [to.address],
        copies: [{ address: to.address, devices: [to.devices[device]!.head.encKey], server: key }],
        body: "x".repeat(800),
        now: Date.now(),
      }).copies[0]!;
    const post = (body: Buffer) =>
      new Promise<void>((resolve, reject) => {
        const req = request(
          `${url}/_people/v1/envelopes`,
          { method: "POST", agent, headers: { "content-type": "application/octet-stream" } },
          (res) => {
            res.resume();
            res.on("end", () =>
              res.statusCode === 200 ? resolve() : reject(new Error(`${res.statusCode}`)),
            );
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    const run = async (bodies: Buffer[]) => {
      let next = 0;
      const start = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: SENDERS }, async () => {
          while (next < bodies.length) await post(bodies[next++]!);
        }),
      );
      return bodies.length / (Number(process.hrtime.bigint() - start) / 1e9);
    };
    // 1. Ingest (sealed beforehand: sealing is not part of the measured load).
    await run(Array.from({ length: 400 }, (_, i) => sealTo(recipients[i % 20]!, i % 10).outer));
    const bodies = Array.from({ length: INGEST }, (_, i) => sealTo(recipients[i % 20]!, i % 10).outer);
    const ingest = await withCpu(() => run(bodies));

    // 2. Live push to devices connected through the balancer (on any process).
    const devices = recipients.flatMap((account) => account.devices.map((_, index) => ({ account, index })));
    for (const { account, index } of devices.slice(0, DEVICES))
      await live.connect(url, await login(target, account.devices[index]!), [servers.certificate]);
    const pushes = Array.from({ length: PUSHES }, (_, i) => {
      const pick = devices[i % DEVICES]!;
      return sealTo(pick.account, pick.index);
    });
    const push = await withCpu(async () => {
      const latencies: number[] = [];
      for (const copy of pushes) latencies.push(await live.timed(copy.envelopeId, () => post(copy.outer)));
      return latencies.sort((a, b) => a - b);
    });
    return {
      setup: `${processes} process${processes > 1 ? "es" : ""}${cluster ? "" : " (cluster off)"}`,
      ingestPerSec: ingest.value,
      ingestCpu: ingest.cpu,
      p50: percentile(push.value, 50),
      p99: percentile(push.value, 99),
      pushCpu: push.cpu,
    };
  } finally {
    for (const ws of live.sockets) ws.terminate();
    agent.destroy();
    await proxy.stop();
    await servers.stop();
  }
}

export async function runServerMultiprocBench(): Promise<void> {
  try {
    if (process.env.BENCH_RELAY_ONLY !== "1") await ingestAndPush();
    const relayOne = await measureRelay(1);
    const relayTwo = await measureRelay(2);
    const relayRow = (r: RelayRun) => ({
      setup: r.processes === 1 ? "1 process (in-process)" : "2 processes (sender ≠ receiver's)",
      "frames /s": fmt(r.framesPerSec),
      "load gen CPU (frames)": `${fmt(r.throughputCpu * 100)} %`,
      "latency p50 ms": fmt(r.p50),
      "latency p99 ms": fmt(r.p99),
      "load gen CPU (latency)": `${fmt(r.latencyCpu * 100)} %`,
    });
    console.log(
      "\n== server: realtime relay frames (1 KiB) between devices of one domain, 8 pairs, " +
        "through HAProxy; load gen CPU = share of one core ==",
    );
    console.table([
      relayRow(relayOne),
      relayRow(relayTwo),
      {
        setup: "2 processes / 1 process",
        "frames /s": fmt(relayTwo.framesPerSec / relayOne.framesPerSec),
        "load gen CPU (frames)": "",
        "latency p50 ms": fmt(relayTwo.p50 / relayOne.p50),
        "latency p99 ms": fmt(relayTwo.p99 / relayOne.p99),
        "load gen CPU (latency)": "",
      },
    ]);
  } finally {
    await stopTestPostgres();
  }
}

async function ingestAndPush(): Promise<void> {
  const single = await measure(1, false);
  const one = await measure(1, true);
  const two = await measure(2, true);
  const row = (r: Run) => ({
    setup: r.setup,
    "ingest /s": fmt(r.ingestPerSec),
    "load gen CPU (ingest)": `${fmt(r.ingestCpu * 100)} %`,
    "push p50 ms": fmt(r.p50),
    "push p99 ms": fmt(r.p99),
    "load gen CPU (push)": `${fmt(r.pushCpu * 100)} %`,
  });
  console.log(
    `\n== server: one domain on 1 and 2 processes behind HAProxy (PostgreSQL, ${SENDERS} senders, ` +
      `${INGEST} envelopes; push to ${DEVICES} devices on any process; load gen CPU = share of one core) ==`,
  );
  console.table([
    row(single),
    row(one),
    row(two),
    {
      setup: "2 processes / 1 process",
      "ingest /s": fmt(two.ingestPerSec / one.ingestPerSec),
      "load gen CPU (ingest)": "",
      "push p50 ms": fmt(two.p50 / one.p50),
      "push p99 ms": fmt(two.p99 / one.p99),
      "load gen CPU (push)": "",
    },
    {
      setup: "1 process cluster on / off",
      "ingest /s": fmt(one.ingestPerSec / single.ingestPerSec),
      "load gen CPU (ingest)": "",
      "push p50 ms": fmt(one.p50 / single.p50),
      "push p99 ms": fmt(one.p99 / single.p99),
      "load gen CPU (push)": "",
    },
  ]);
}
