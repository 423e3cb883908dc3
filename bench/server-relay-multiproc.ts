// Part of `npm run bench -- server`: realtime relay frames (PROTOCOL §17.4)
// between devices of one domain, on 1 process (both devices on it: delivered
// in-process) and on 2 (sender on one, receiver on the other: through
// relay_frames + NOTIFY). Throughput: PAIRS sender→receiver pairs each send
// FRAMES frames as fast as the relay's flow control lets them (a ping after
// every WINDOW frames, the next window after its pong). Latency: one frame at
// a time, sent → received. The load generator shares the cores: its CPU is shown.
import { once } from "node:events";
import WebSocket from "ws";
import { startHaproxy } from "../test/helpers/haproxy.js";
import { login, registerAccount, type TestServer } from "../test/helpers/people-servers.js";
import { testPostgres } from "../test/helpers/postgres.js";
import type { Account } from "../test/helpers/protocol-fixtures.js";
import { startServerCluster } from "../test/helpers/server-cluster.js";

const DOMAIN = "relay.bench";
const PAIRS = 8;
const FRAMES = 600;
const WINDOW = 100;
const LATENCY_FRAMES = 300;
const DATA = Buffer.alloc(1024, 7).toString("base64url");

export interface RelayRun {
  processes: number;
  framesPerSec: number;
  throughputCpu: number;
  p50: number;
  p99: number;
  latencyCpu: number;
}

interface Peer {
  ws: WebSocket;
  account: Account;
  onRelay: (() => void) | undefined;
  onPong: (() => void) | undefined;
}

async function withCpu<T>(fn: () => Promise<T>): Promise<{ value: T; cpu: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = await fn();
  const used = process.cpuUsage(cpu0);
  return { value, cpu: (used.user + used.system) / (Number(process.hrtime.bigint() - t0) / 1000) };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export async function measureRelay(processes: number): Promise<RelayRun> {
  const database = await (await testPostgres()).createDatabase(`bench-relay-${processes}`);
  const servers = await startServerCluster({
    domain: DOMAIN,
    processes,
    database,
    people: { log: { level: "warn" } },
  });
  const proxy = await startHaproxy(
    servers.processes.map((p) => p.port),
    { pinned: true },
  );
  const first = servers.processes[0]!;
  const target = { url: first.url, http: servers.http, domain: DOMAIN } as unknown as TestServer;
  const peers: Peer[] = [];
  const connect = async (account: Account, on: number): Promise<Peer> => {
    const token = await login(target, account.devices[0]!);
    const ws = new WebSocket(`wss://127.0.0.1:${proxy.pinnedPorts[on]}/_people/v1/live`, {
      ca: [servers.certificate],
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
    });
    const peer: Peer = { ws, account, onRelay: undefined, onPong: undefined };
    let ready!: () => void;
    const caughtUp = new Promise<void>((r) => (ready = r));
    ws.on("message", (data) => {
      const frame = JSON.parse(String(data)) as { type: string; errcode?: string; error?: string };
      if (frame.type === "caught_up") ready();
      else if (frame.type === "relay") peer.onRelay?.();
      else if (frame.type === "pong") peer.onPong?.();
      else if (frame.type === "error") throw new Error(`relay bench: ${frame.errcode} ${frame.error}`);
    });
    await once(ws, "open");
    await caughtUp;
    peers.push(peer);
    return peer;
  };
  const relay = (from: Peer, to: Peer) =>
    from.ws.send(
      JSON.stringify({
        type: "relay",
        to: { address: to.account.address, device: to.account.devices[0]!.device },
        session: "bench",
        data: DATA,
      }),
    );
  try {
    const pairs: [Peer, Peer][] = [];
    for (let i = 0; i < PAIRS; i++) {
      const s = await registerAccount(target, `s${i}`);
      const r = await registerAccount(target, `r${i}`);
      // With 2 processes the sender is on the first, the receiver on the second.
      pairs.push([await connect(s, 0), await connect(r, processes - 1)]);
    }
    const stream = async ([s, r]: [Peer, Peer], frames: number) => {
      let got = 0;
      const all = new Promise<void>((resolve) => {
        r.onRelay = () => {
          if (++got === frames) resolve();
        };
      });
      for (let sent = 0; sent < frames;) {
        const n = Math.min(WINDOW, frames - sent);
        for (let i = 0; i < n; i++) relay(s, r);
        sent += n;
        const pong = new Promise<void>((resolve) => (s.onPong = resolve));
        s.ws.send('{"type":"ping"}');
        await pong;
      }
      await all;
    };
    await Promise.all(pairs.map((p) => stream(p, 50))); // warm-up
    const throughput = await withCpu(async () => {
      const t0 = process.hrtime.bigint();
      await Promise.all(pairs.map((p) => stream(p, FRAMES)));
      return (PAIRS * FRAMES) / (Number(process.hrtime.bigint() - t0) / 1e9);
    });
    const [s, r] = pairs[0]!;
    const latency = await withCpu(async () => {
      const out: number[] = [];
      for (let i = 0; i < LATENCY_FRAMES; i++) {
        const arrived = new Promise<void>((resolve) => (r.onRelay = resolve));
        const t0 = process.hrtime.bigint();
        relay(s, r);
        await arrived;
        out.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      return out.sort((a, b) => a - b);
    });
    return {
      processes,
      framesPerSec: throughput.value,
      throughputCpu: throughput.cpu,
      p50: percentile(latency.value, 50),
      p99: percentile(latency.value, 99),
      latencyCpu: latency.cpu,
    };
  } finally {
    for (const p of peers) p.ws.terminate();
    await proxy.stop();
    await servers.stop();
  }
}
