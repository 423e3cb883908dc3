// A People domain on several processes, part 2 (issue 17): realtime relay
// frames between devices connected to different processes, and the per-IP
// rate limit behind HAProxy with the PROXY protocol v2. Two real
// `people-server` processes on one PostgreSQL, a real HAProxy in front that
// sends `send-proxy-v2` from 127.0.0.9 (the servers trust that address alone),
// clients on 127.0.0.2 and 127.0.0.3 (both loopback on Linux).
import assert from "node:assert/strict";
import { once } from "node:events";
import { request } from "node:https";
import { connect as tcpConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import knex from "knex";
import WebSocket from "ws";
import type { ServerEnvelopeKey } from "../../src/people/protocol/server-keys.js";
import { startHaproxy, type HaproxyHandle } from "../helpers/haproxy.js";
import { envelopeKeyOf, login, registerAccount, type TestServer } from "../helpers/people-servers.js";
import { testPostgres } from "../helpers/postgres.js";
import { LiveFrames } from "../helpers/live-frames.js";
import { makeAccount, seal, type Account } from "../helpers/protocol-fixtures.js";
import { startServerCluster, type ServerCluster, type ServerProcess } from "../helpers/server-cluster.js";

const DOMAIN = "relay.test";
const PROXY_FROM = "127.0.0.9";
const PER_IP = 6;
const FRAMES = 150;

/** A device's live socket that records every frame; `until` waits on them, never on the clock. */
class Device extends LiveFrames {
  constructor(
    ws: WebSocket,
    readonly account: Account,
  ) {
    super(ws);
    ws.on("error", () => undefined);
  }
  get id() {
    return { address: this.account.address, device: this.account.devices[0]!.device };
  }
  relay(to: Device, session: string, data: string): void {
    this.ws.send(JSON.stringify({ type: "relay", to: to.id, session, data }));
  }
  /** A pong answers once the relay frames sent before it were handed on or refused. */
  async ping(): Promise<void> {
    const pongs = this.of("pong").length;
    this.ws.send('{"type":"ping"}');
    await this.until(() => this.of("pong").length > pongs || this.closed);
  }
}

/** Frame i of a stream: its number, then filler; some are the largest a relay frame may be. */
function payload(i: number): string {
  const size = i % 50 === 49 ? 64 * 1024 : 16 + ((i * 7919) % 3000);
  const b = Buffer.alloc(size, i % 251);
  b.writeUInt32BE(i, 0);
  return b.toString("base64url");
}
const seqOf = (data: string) => Buffer.from(data, "base64url").readUInt32BE(0);

describe("a People domain on several processes: relay frames and the PROXY protocol", function () {
  this.timeout(600_000);
  let cluster: ServerCluster;
  let proxy: HaproxyHandle;
  let a: ServerProcess;
  let b: ServerProcess;
  let key: ServerEnvelopeKey;
  let database: string;
  const devices: Device[] = [];
  const jane = makeAccount("jane@elsewhere.test", Date.now(), { devices: 1 });

  const at = (p: { url: string }): TestServer =>
    ({ url: p.url, http: cluster.http, domain: DOMAIN }) as unknown as TestServer;

  /** A device logged in, its socket through HAProxy to process `i` (0 = A) from `from`. */
  const liveAt = async (i: number, account: Account, from: string): Promise<Device> => {
    const token = await login(at(a), account.devices[0]!);
    const ws = new WebSocket(`wss://127.0.0.1:${proxy.pinnedPorts[i]}/_people/v1/live`, {
      ca: cluster.certificate,
      localAddress: from,
      headers: { authorization: `Bearer ${token}` },
    });
    const device = new Device(ws, account);
    devices.push(device);
    await once(ws, "open");
    await device.until(() => device.of("caught_up").length > 0);
    return device;
  };

  /** POST one envelope through HAProxy's port `port`, from the local address `from`. */
  const postFrom = (port: number, from: string, outer: Buffer): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/_people/v1/envelopes",
          localAddress: from,
          ca: cluster.certificate,
          agent: false,
          headers: { "content-type": "application/octet-stream", "content-length": outer.length },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end(outer);
    });

  before(async function () {
    this.timeout(600_000);
    database = await (await testPostgres()).createDatabase("multiproc_relay");
    cluster = await startServerCluster({
      domain: DOMAIN,
      processes: 2,
      database,
      people: {
        listen: { proxy_protocol: true, trusted_proxies: [`${PROXY_FROM}/32`] },
        cluster: { process_expiry: "3s" },
        limits: { ingest_per_minute_per_ip: PER_IP },
      },
    });
    [a, b] = cluster.processes as [ServerProcess, ServerProcess];
    proxy = await startHaproxy(
      cluster.processes.map((p) => p.port),
      { proxyFrom: PROXY_FROM, pinned: true },
    );
    key = await envelopeKeyOf(at(a));
  });

  after(async function () {
    this.timeout(120_000);
    for (const d of devices) d.ws.terminate();
    await proxy?.stop();
    await cluster?.stop();
  });

  it("refuses a trusted proxy's connection without a header, and a header from anyone else", async () => {
    // What the balancer's address sends without a header (here: the start of a TLS hello) is cut off.
    const cut = (from: string, bytes: Buffer) =>
      new Promise<string>((resolve) => {
        const s = tcpConnect({ host: "127.0.0.1", port: a.port, localAddress: from });
        let got = "";
        s.on("data", (d: Buffer) => (got += d.toString("hex")));
        s.on("error", () => undefined);
        s.on("close", () => resolve(got));
        s.once("connect", () => s.write(bytes));
      });
    assert.equal(await cut(PROXY_FROM, Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])), "");
    const header = Buffer.from("0d0a0d0a000d0a515549540a2111000c7f000002c0000201303904d2", "hex");
    assert.equal(await cut("127.0.0.1", header), "");
    // Anyone else speaking TLS at once is served as themselves (the harness's own health checks).
    const raw = tcpConnect({ host: "127.0.0.1", port: a.port, localAddress: "127.0.0.2" });
    const tls = tlsConnect({ socket: raw, host: "127.0.0.1", ca: cluster.certificate });
    tls.on("error", () => undefined);
    await once(tls, "secureConnect");
    tls.destroy();
  });

  it("counts the per-IP limit by the client's address across both processes behind HAProxy", async () => {
    const joe = await registerAccount(at(a), "joe");
    const sealed = () =>
      seal({
        from: jane,
        to: [joe.address],
        copies: [{ address: joe.address, devices: [joe.devices[0]!.head.encKey], server: key }],
        now: Date.now(),
      }).copies[0]!.outer;
    // The limit's window is a clock minute: if one ends midway, count again in a fresh one. The
    // posts made after the boundary already count in the next minute, so wait for the one after it.
    const minute = () => Math.floor(Date.now() / 60_000);
    let used = -1;
    for (let attempt = 0; ; attempt++) {
      while (minute() <= used) await sleep(200);
      const window = minute();
      const statuses: number[] = [];
      for (let i = 0; i < PER_IP + 2; i++) {
        // Alternate processes: both must count against the one limit.
        statuses.push(await postFrom(proxy.pinnedPorts[i % 2]!, "127.0.0.2", sealed()));
      }
      const other = await postFrom(proxy.pinnedPorts[1]!, "127.0.0.3", sealed());
      const again = await postFrom(proxy.port, "127.0.0.2", sealed());
      used = minute();
      if (used !== window && attempt < 3) continue;
      assert.deepEqual(statuses, [...Array<number>(PER_IP).fill(200), 429, 429]);
      assert.equal(other, 200, "127.0.0.3 has its own count");
      assert.equal(again, 429);
      break;
    }
  });

  it("relays frames between devices on different processes, in order, none lost", async () => {
    const kim = await registerAccount(at(a), "kim");
    const lou = await registerAccount(at(a), "lou");
    const x = await liveAt(0, kim, "127.0.0.2");
    const y = await liveAt(1, lou, "127.0.0.3");
    const sent = Array.from({ length: FRAMES }, (_, i) => payload(i));
    for (const data of sent) {
      x.relay(y, "s1", data);
      y.relay(x, "s1", data);
    }
    const from = (d: Device, peer: Device) =>
      d.of("relay").filter((f) => f.from?.address === peer.id.address && f.session === "s1");
    await Promise.all([
      y.until(() => from(y, x).length >= FRAMES || y.closed),
      x.until(() => from(x, y).length >= FRAMES || x.closed),
    ]);
    for (const [d, peer] of [
      [y, x],
      [x, y],
    ] as const) {
      const got = from(d, peer);
      assert.deepEqual(
        got.map((f) => seqOf(f.data!)),
        sent.map((_, i) => i),
      );
      assert.ok(got.every((f, i) => f.data === sent[i] && f.from?.device === peer.id.device));
      assert.deepEqual(d.of("error"), []);
    }
    // A pong after frames means they were handed on.
    x.relay(y, "s2", payload(1));
    await x.ping();
    await y.until(() => y.of("relay").some((f) => f.session === "s2"));
  });

  it("tells the sender PEOPLE_UNAVAILABLE, not silence, once the receiver's process is killed", async () => {
    const max = await registerAccount(at(a), "max");
    const ned = await registerAccount(at(a), "ned");
    const x = await liveAt(0, max, "127.0.0.2");
    const y = await liveAt(1, ned, "127.0.0.3");
    x.relay(y, "s3", payload(0));
    await y.until(() => y.of("relay").length > 0);
    await b.kill("SIGKILL");
    await y.until(() => y.closed);
    // Frames sent before A takes B for dead (cluster.process_expiry) are lost with B; then each is refused.
    let n = 1;
    while (x.of("error").length === 0) {
      assert.ok(!x.closed);
      x.relay(y, "s3", payload(n++));
      await x.ping();
    }
    assert.deepEqual(
      x.of("error").map((e) => [e.errcode, e.session]),
      [["PEOPLE_UNAVAILABLE", "s3"]],
    );
    // And it stays refused: a frame after that gets its own error.
    x.relay(y, "s3", payload(n));
    await x.ping();
    assert.equal(x.of("error").length, 2);
    // No stale routes: A's heartbeat deletes B's process row, its devices and its unread frames.
    const db = knex({ client: "pg", connection: database, pool: { min: 0, max: 1 } });
    try {
      const left = async () => {
        const count = async (table: string) =>
          Number(((await db(table).count({ n: "*" })) as { n: string }[])[0]!.n);
        return [await count("cluster_processes"), await count("relay_frames")];
      };
      while ((await left()).join() !== "1,0") await sleep(100);
      const routes = (await db("live_sessions").select("address")) as { address: string }[];
      assert.ok(!routes.some((r) => r.address === ned.address));
      assert.ok(routes.some((r) => r.address === max.address));
    } finally {
      await db.destroy();
    }
  });
});
