// A People domain on several processes (issue 17): two real `people-server`
// processes on one PostgreSQL behind a real HAProxy. Mail stored by one process
// reaches a device connected to the other at once; a SIGKILL loses nothing
// acknowledged; tokens and login challenges work across processes (a
// challenge once only); rate limits count across processes.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import knex from "knex";
import WebSocket from "ws";
import { challengeBytes } from "../../src/people/server/auth.js";
import { signBytes } from "../../src/people/protocol/signing.js";
import type { DeviceIdentity } from "../../src/people/protocol/device-identity.js";
import type { ServerEnvelopeKey } from "../../src/people/protocol/server-keys.js";
import { startHaproxy, type HaproxyHandle } from "../helpers/haproxy.js";
import {
  envelopeKeyOf,
  login,
  postEnvelope,
  registerAccount,
  type TestServer,
} from "../helpers/people-servers.js";
import { testPostgres } from "../helpers/postgres.js";
import { LiveFrames } from "../helpers/live-frames.js";
import { makeAccount, seal, type Account } from "../helpers/protocol-fixtures.js";
import { startServerCluster, type ServerCluster, type ServerProcess } from "../helpers/server-cluster.js";

const DOMAIN = "multi.test";
const PER_RECIPIENT = 40;

/** A live socket that records every frame it is sent; the envelopes' ids in order. */
class LiveDevice extends LiveFrames {
  get received(): string[] {
    return this.of("envelope").flatMap((f) => (f.id ? [f.id] : []));
  }
  get caughtUp(): boolean {
    return this.of("caught_up").length > 0;
  }

  static async connect(url: string, token: string, ca: string): Promise<LiveDevice> {
    const ws = new WebSocket(`${url.replace("https:", "wss:")}/_people/v1/live`, {
      ca,
      headers: { authorization: `Bearer ${token}` },
    });
    const device = new LiveDevice(ws);
    await once(ws, "open");
    await device.until(() => device.caughtUp);
    return device;
  }
}

describe("a People domain on several processes (PostgreSQL, HAProxy)", function () {
  this.timeout(600_000);
  let cluster: ServerCluster;
  let proxy: HaproxyHandle;
  let a: ServerProcess;
  let b: ServerProcess;
  let key: ServerEnvelopeKey;
  let database: string;
  const sockets: WebSocket[] = [];
  const jane = makeAccount("jane@elsewhere.test", Date.now(), { devices: 1 });

  const at = (p: { url: string }): TestServer =>
    ({ url: p.url, http: cluster.http, domain: DOMAIN }) as unknown as TestServer;
  const viaProxy = (): TestServer => at({ url: `https://127.0.0.1:${proxy.port}` });
  const sealTo = (to: Account) =>
    seal({
      from: jane,
      to: [to.address],
      copies: [{ address: to.address, devices: [to.devices[0]!.head.encKey], server: key }],
      now: Date.now(),
    }).copies[0]!;
  const live = async (p: ServerProcess, account: Account): Promise<LiveDevice> => {
    const token = await login(at(p), account.devices[0]!);
    const device = await LiveDevice.connect(p.url, token, cluster.certificate);
    sockets.push(device.ws);
    return device;
  };

  before(async function () {
    this.timeout(600_000);
    database = await (await testPostgres()).createDatabase("multiproc");
    cluster = await startServerCluster({
      domain: DOMAIN,
      processes: 2,
      database,
      people: {
        limits: { ingest_per_minute_per_ip: 1_000_000, ingest_per_minute_per_recipient: PER_RECIPIENT },
      },
    });
    [a, b] = cluster.processes as [ServerProcess, ServerProcess];
    proxy = await startHaproxy(cluster.processes.map((p) => p.port));
    key = await envelopeKeyOf(at(a));
  });

  after(async function () {
    this.timeout(120_000);
    for (const ws of sockets) ws.terminate();
    await proxy?.stop();
    await cluster?.stop();
  });

  it("serves one identity and envelope key from both processes", async () => {
    const descriptor = (p: ServerProcess) =>
      cluster.http.json<{ identity_key: string }>("GET", `${p.url}/_people/v1/server`);
    assert.equal((await descriptor(a)).identity_key, (await descriptor(b)).identity_key);
    assert.deepEqual((await envelopeKeyOf(at(b))).keyId, key.keyId);
  });

  it("pushes mail ingested by process B to a device connected to process A at once", async () => {
    const joe = await registerAccount(at(a), "joe");
    const device = await live(a, joe);
    for (let i = 0; i < 5; i++) {
      const copy = sealTo(joe);
      assert.equal((await postEnvelope(at(b), copy.outer)).status, 200);
      await device.until(() => device.received.includes(copy.envelopeId));
    }
    assert.equal(device.received.length, 5);
  });

  it("still pushes across processes when the listening connections are cut: the mailbox is re-read", async () => {
    const kim = await registerAccount(at(a), "kim");
    const device = await live(a, kim);
    const db = knex({ client: "pg", connection: database, pool: { min: 0, max: 1 } });
    const cut = new Set<number>();
    /** The LISTEN connections not cut yet (a cut one may linger in pg_stat_activity a moment). */
    const listening = async () => {
      const r = (await db.raw(
        "select pid from pg_stat_activity where datname = current_database() and query ilike 'LISTEN%'",
      )) as { rows: { pid: number }[] };
      return r.rows.map((x) => x.pid).filter((pid) => !cut.has(pid));
    };
    try {
      for (let i = 0; i < 3; i++) {
        // Wait until both processes listen (again), then cut both connections.
        let pids = await listening();
        while (pids.length < 2) {
          await sleep(50);
          pids = await listening();
        }
        assert.equal(pids.length, 2, "one listening connection per process");
        for (const pid of pids) {
          cut.add(pid);
          await db.raw("select pg_terminate_backend(?)", [pid]);
        }
        // Mail stored now may find nobody listening; the device must get it all the same.
        const copy = sealTo(kim);
        assert.equal((await postEnvelope(at(b), copy.outer)).status, 200);
        await device.until(() => device.received.includes(copy.envelopeId));
      }
      assert.equal(device.received.length, 3);
    } finally {
      await db.destroy();
    }
  });

  it("accepts a token issued by one process on the other, and a challenge from A once only on B", async () => {
    const ann = await registerAccount(at(b), "ann");
    const d = ann.devices[0]!;
    const challenge = async (p: ServerProcess) =>
      (
        await cluster.http.json<{ challenge: string }>("POST", `${p.url}/_people/v1/auth/challenge`, {
          address: d.address,
          device: d.device,
        })
      ).challenge;
    const present = (p: ServerProcess, c: string, dev: DeviceIdentity) =>
      cluster.http.send("POST", `${p.url}/_people/v1/auth/token`, {
        headers: { "content-type": "application/json" },
        body: Buffer.from(
          JSON.stringify({
            address: dev.address,
            device: dev.device,
            challenge: c,
            signature: signBytes(
              dev.signingKey,
              "auth-challenge",
              challengeBytes(DOMAIN, dev.address, dev.device, c),
            ).toString("base64url"),
          }),
        ),
      });

    const c1 = await challenge(a);
    const first = await present(b, c1, d);
    assert.equal(first.status, 200);
    assert.equal((await present(a, c1, d)).status, 401, "a used challenge is refused on the other process");
    assert.equal((await present(b, c1, d)).status, 401, "and on the same one");

    // Presented to both at the same moment: exactly one token.
    for (let i = 0; i < 5; i++) {
      const c = await challenge(i % 2 === 0 ? a : b);
      const answers = await Promise.all([present(a, c, d), present(b, c, d)]);
      assert.deepEqual(answers.map((r) => r.status).sort(), [200, 401]);
    }

    // The token from B opens a live socket on A and is taken through the balancer.
    const { token } = JSON.parse(first.body.toString()) as { token: string };
    const onA = await LiveDevice.connect(a.url, token, cluster.certificate);
    sockets.push(onA.ws);
    const viaLb = await LiveDevice.connect(viaProxy().url, token, cluster.certificate);
    sockets.push(viaLb.ws);
    const copy = sealTo(ann);
    assert.equal((await postEnvelope(at(b), copy.outer)).status, 200);
    await onA.until(() => onA.received.includes(copy.envelopeId));
    await viaLb.until(() => viaLb.received.includes(copy.envelopeId));
  });

  it("serves a blob uploaded through one process from the other (storage.blobs_dir)", async () => {
    const bo = await registerAccount(at(a), "bo");
    const token = await login(at(a), bo.devices[0]!);
    const bytes = randomBytes(200_000);
    const id = createHash("sha256").update(bytes).digest("base64url");
    const put = await cluster.http.send("PUT", `${a.url}/_people/v1/blobs/${id}`, {
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
      body: bytes,
    });
    assert.equal(put.status, 201);
    const got = await cluster.http.send("GET", `${b.url}/_people/v1/blobs/${id}`);
    assert.equal(got.status, 200);
    assert.ok(got.body.equals(bytes));
    const again = await cluster.http.send("PUT", `${b.url}/_people/v1/blobs/${id}`, {
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
      body: bytes,
    });
    assert.equal(again.status, 200, "the other process knows it exists");
  });

  it("counts a recipient's rate limit across both processes", async () => {
    const minute = () => Math.floor(Date.now() / 60_000);
    for (let attempt = 0; ; attempt++) {
      // Fixed windows are aligned to the minute: start well inside one, and if it still ends midway
      // (a busy machine), count again for a fresh recipient, who has no posts in any window.
      while (Date.now() % 60_000 > 45_000) await sleep(250);
      const window = minute();
      const ray = await registerAccount(at(a), `ray${attempt}`);
      const statuses = await Promise.all(
        Array.from({ length: 50 }, (_, i) => postEnvelope(at(i % 2 === 0 ? a : b), sealTo(ray).outer)),
      );
      if (minute() !== window && attempt < 3) continue;
      const accepted = statuses.filter((s) => s.status === 200).length;
      const limited = statuses.filter((s) => s.status === 429).length;
      assert.equal(accepted, PER_RECIPIENT, `${accepted} accepted of 50 with a limit of ${PER_RECIPIENT}`);
      assert.equal(limited, 50 - PER_RECIPIENT);
      break;
    }
  });

  it("loses nothing acknowledged when a process is SIGKILLed mid-stream, and delivers each once", async () => {
    // Eight recipients keep each well under its rate limit (retries count too).
    const recipients = await Promise.all(
      Array.from({ length: 8 }, (_, i) => registerAccount(at(a), `kill${i}`)),
    );
    const devices = await Promise.all(recipients.map((r) => live(a, r)));
    /** Envelope id → index of its recipient, for every envelope a process answered 200. */
    const acknowledged = new Map<string, number>();
    let stop = false;
    let sent = 0;
    /** Set while B is being restarted: the writers wait, so the count stays within the rate limit. */
    const gate: { paused?: Promise<void> } = {};
    const writer = async () => {
      while (!stop) {
        await gate.paused;
        const to = sent++ % recipients.length;
        const copy = sealTo(recipients[to]!);
        // Retry the same bytes through the balancer until a process says it has them.
        for (;;) {
          try {
            const res = await postEnvelope(viaProxy(), copy.outer);
            if (res.status === 200) {
              acknowledged.set(copy.envelopeId, to);
              break;
            }
            throw new Error(`unexpected status ${res.status}: ${JSON.stringify(res.json)}`);
          } catch (err) {
            if (err instanceof Error && err.message.startsWith("unexpected status")) throw err;
            await sleep(50);
          }
        }
      }
    };
    const writers = Array.from({ length: 4 }, writer);
    const acked = async (n: number) => {
      while (acknowledged.size < n) await sleep(20);
    };
    await acked(30);
    await b.kill("SIGKILL");
    await acked(60);
    let resume = () => {};
    gate.paused = new Promise<void>((r) => (resume = r));
    await b.start(cluster.http);
    resume();
    await acked(100);
    stop = true;
    await Promise.all(writers);

    // Every acknowledged envelope reaches its device's live socket (on A) …
    await Promise.all(
      devices.map((d, i) =>
        d.until(() => [...acknowledged].every(([id, to]) => to !== i || d.received.includes(id))),
      ),
    );
    // … once, and nothing else arrives.
    const received = devices.flatMap((d) => d.received);
    assert.equal(new Set(received).size, received.length, "no envelope pushed twice");
    assert.equal(received.length, acknowledged.size);
    console.log(
      `      ${acknowledged.size} acknowledged, ${received.length} pushed live, process B killed once`,
    );
  });
});
