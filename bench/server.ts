// Server part of `npm run bench`:
// - durable envelopes/s with 1 and 32 concurrent senders over keep-alive HTTPS,
//   as ratios to (a) the same server answering a no-op POST of the same size and
//   (b) raw knex inserts of the same rows, all measured in this run;
// - live-push latency p50/p99 with 1,000 connected devices;
// - memory per idle WebSocket device.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "node:https";
import knex from "knex";
import { DeviceIdentity } from "../src/people/protocol/device-identity.js";
import { sealMessage } from "../src/people/protocol/envelope.js";
import { Ed25519KeyPair } from "../src/people/protocol/keys.js";
import { parseAddress } from "../src/people/protocol/address.js";
import type { ServerEnvelopeKey } from "../src/people/protocol/server-keys.js";
import { deviceUpload, envelopeKeyOf, login, type TestServer } from "../test/helpers/people-servers.js";
import type { Account } from "../test/helpers/protocol-fixtures.js";
import { fmt } from "./harness.js";
import { LivePushes } from "./live-push.js";
import { BenchServer } from "./server-process.js";

const DOMAIN = "bench.test";

function asTestServer(s: BenchServer): TestServer {
  return { url: s.url, http: s.http, domain: DOMAIN } as unknown as TestServer;
}

async function registerAccount(s: BenchServer, local: string, devices: number): Promise<Account> {
  const address = parseAddress(`${local}@${DOMAIN}`);
  const accountKey = Ed25519KeyPair.generate();
  const now = Date.now();
  const account: Account = {
    address,
    accountKey,
    devices: Array.from({ length: devices }, () => DeviceIdentity.create({ address, accountKey, now })),
  };
  await s.http.json("POST", `${s.url}/_people/v1/accounts`, { address, ...deviceUpload(account) });
  return account;
}

function sealFor(
  from: Account,
  to: Account,
  deviceIndex: number | "all",
  key: ServerEnvelopeKey,
  body: string,
) {
  const devices = deviceIndex === "all" ? to.devices : [to.devices[deviceIndex]!];
  return sealMessage({
    from: from.address,
    device: from.devices[0]!.device,
    signingKey: from.devices[0]!.signingKey,
    to: [to.address],
    content: { type: "text", body },
    copies: [{ address: to.address, devices: devices.map((d) => d.head.encKey), server: key }],
    now: Date.now(),
    ttlMs: 86_400_000,
  }).copies[0]!;
}

async function runConcurrent(
  bodies: Buffer[],
  concurrency: number,
  send: (b: Buffer) => Promise<void>,
): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) await send(bodies[next++]!);
    }),
  );
  return bodies.length / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Raw knex: the same rows (envelope, delivery, seen id) inserted one transaction per envelope, same PRAGMAs. */
async function rawKnexRate(rows: Buffer[]): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "people-rawknex-"));
  const db = knex({
    client: "better-sqlite3",
    connection: { filename: join(dir, "raw.db") },
    useNullAsDefault: true,
    pool: {
      afterCreate: (conn: { pragma(s: string): void }, done: () => void) => {
        conn.pragma("journal_mode = WAL");
        conn.pragma("synchronous = FULL");
        done();
      },
    },
  });
  try {
    await db.schema.createTable("envelopes", (t) => {
      t.bigIncrements("seq");
      t.string("envelope_id").unique();
      t.string("recipient");
      t.binary("inner");
      t.bigInteger("expires_at");
    });
    await db.schema.createTable("deliveries", (t) => {
      t.bigInteger("envelope_seq");
      t.string("device");
    });
    const start = process.hrtime.bigint();
    let i = 0;
    for (const inner of rows) {
      await db.transaction(async (trx) => {
        const [seq] = await trx("envelopes").insert({
          envelope_id: `e${i++}`,
          recipient: "joe@bench.test",
          inner,
          expires_at: 1,
        });
        await trx("deliveries").insert({ envelope_seq: seq, device: "d" });
      });
    }
    return rows.length / (Number(process.hrtime.bigint() - start) / 1e9);
  } finally {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runServerBench(): Promise<void> {
  const server = await BenchServer.start(DOMAIN);
  try {
    const target = asTestServer(server);
    const joe = await registerAccount(server, "joe", 1);
    const jane = await registerAccount(server, "jane", 1);
    const key = await envelopeKeyOf(target);
    const body = "x".repeat(800);

    // 1. Ingest against the no-op POST and raw knex.
    const rows: Record<string, string>[] = [];
    // The load generator uses node:https directly with one keep-alive agent:
    // the project's HttpsClient adds per-request work that would cap both rates.
    const agent = new Agent({ keepAlive: true, maxSockets: 64, ca: [server.certificate] });
    const post = (path: string) => (b: Buffer) =>
      new Promise<void>((resolve, reject) => {
        const req = request(
          `${server.url}${path}`,
          { method: "POST", agent, headers: { "content-type": "application/octet-stream" } },
          (res) => {
            res.resume();
            res.on("end", () =>
              res.statusCode === 200 ? resolve() : reject(new Error(`${path}: ${res.statusCode}`)),
            );
          },
        );
        req.on("error", reject);
        req.end(b);
      });
    const warm = Array.from({ length: 300 }, () => sealFor(jane, joe, 0, key, body).outer);
    await runConcurrent(warm, 8, post("/_people/v1/diagnostics/noop"));
    await runConcurrent(warm, 8, post("/_people/v1/envelopes"));
    for (const [concurrency, count] of [
      [1, 600],
      [32, 4000],
    ] as const) {
      const envelopes = Array.from({ length: count }, () => sealFor(jane, joe, 0, key, body).outer);
      const noop = await runConcurrent(envelopes, concurrency, post("/_people/v1/diagnostics/noop"));
      const ingest = await runConcurrent(envelopes, concurrency, post("/_people/v1/envelopes"));
      const raw = await rawKnexRate(envelopes.slice(0, Math.min(count, 600)));
      rows.push({
        senders: String(concurrency),
        "envelope bytes": String(envelopes[0]!.length),
        "ingest /s (durable)": fmt(ingest),
        "no-op POST /s": fmt(noop),
        "ingest / no-op": fmt(ingest / noop),
        "raw knex rows/s": fmt(raw),
        "ingest / raw knex": fmt(ingest / raw),
      });
    }
    agent.destroy();
    console.log("\n== server: durable ingest over keep-alive HTTPS (SQLite, synchronous=FULL) ==");
    console.table(rows);

    // 2. 1,000 live devices: memory per idle socket, then push latency.
    const accounts: Account[] = [];
    for (let a = 0; a < 10; a++) accounts.push(await registerAccount(server, `crowd${a}`, 100));
    const devices = accounts.flatMap((account) => account.devices.map((device) => ({ account, device })));
    const tokens: string[] = [];
    for (const { device } of devices) tokens.push(await login(target, device));
    const rssBefore = await server.metric("process_resident_memory_bytes");
    const live = new LivePushes();
    for (const token of tokens) await live.connect(server.url, token, [server.certificate]);
    await new Promise((r) => setTimeout(r, 1500));
    const rssAfter = await server.metric("process_resident_memory_bytes");
    const connected = await server.metric("people_live_connections");

    const latencies: number[] = [];
    for (let i = 0; i < 400; i++) {
      const pick = devices[Math.floor(Math.random() * devices.length)]!;
      const index = pick.account.devices.indexOf(pick.device);
      const copy = sealFor(jane, pick.account, index, key, "ping");
      latencies.push(
        await live.timed(copy.envelopeId, () =>
          server.http.send("POST", `${server.url}/_people/v1/envelopes`, {
            headers: { "content-type": "application/octet-stream" },
            body: copy.outer,
          }),
        ),
      );
    }
    latencies.sort((a, b) => a - b);
    for (const ws of live.sockets) ws.close();
    console.log(`\n== server: live push with ${connected} connected devices ==`);
    console.table([
      {
        "push p50 ms": fmt(percentile(latencies, 50)),
        "push p99 ms": fmt(percentile(latencies, 99)),
        "(POST sent → frame received, incl. durable write)": "",
        "RSS per idle device KB": fmt((rssAfter - rssBefore) / connected / 1024),
      },
    ]);
  } finally {
    await server.stop();
  }
}
