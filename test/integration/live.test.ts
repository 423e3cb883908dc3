// The live WebSocket hub over real HTTPS and real `ws` clients. There is no
// server assembly yet, so this is a unit-level harness: an https.Server with a
// generated certificate (trusted by the clients as their CA), an in-memory
// mailbox with the store's pending/ack semantics, and an auth stand-in that
// maps known tokens to devices. The test against the real store comes with the
// server assembly.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { generate } from "selfsigned";
import { WebSocket } from "ws";
import { PeopleError } from "../../src/people/errors.js";
import type { PeopleAddress } from "../../src/people/protocol/address.js";
import type { DeviceId } from "../../src/people/protocol/ids.js";
import type { AuthedDevice } from "../../src/people/server/auth.js";
import type { EnvelopeListener } from "../../src/people/server/ingest-service.js";
import { LiveHub, type LiveOptions } from "../../src/people/server/live.js";
import { createLogger } from "../../src/people/server/logger.js";
import { ServerMetrics } from "../../src/people/server/metrics.js";
import type { MailboxStore, StoredEnvelope } from "../../src/store/types.js";

const ALICE = "alice@example.org";
const BOB = "bob@example.org";

// --- in-memory stand-ins ----------------------------------------------------

interface PendingHook {
  /** Runs inside pending() before it reads: what it stores is in the page. */
  beforeRead?: () => void;
  /** Runs inside pending() after it read: what it stores is not in the page. */
  afterRead?: () => void;
}

/** A Map-backed mailbox with the real pending/ack semantics, which tells the hub like IngestService does. */
class FakeMailbox implements Pick<MailboxStore, "pending" | "ack"> {
  private seq = 0;
  readonly rows = new Map<number, { envelope: StoredEnvelope; devices: Set<string> }>();
  listener: EnvelopeListener | undefined;
  hook: PendingHook | undefined;
  failAck = false;
  pendingCalls = 0;

  deliver(recipient: string, devices: string[], inner = randomBytes(40)): StoredEnvelope {
    const envelope: StoredEnvelope = {
      seq: ++this.seq,
      envelopeId: randomBytes(16).toString("base64url"),
      recipient,
      inner,
      expiresAt: Date.now() + 86_400_000,
      receivedAt: Date.now(),
    };
    this.rows.set(envelope.seq, { envelope, devices: new Set(devices) });
    this.listener?.envelopeStored(recipient, devices, envelope);
    return envelope;
  }

  async pending(address: string, device: string, afterSeq: number, limit: number): Promise<StoredEnvelope[]> {
    this.pendingCalls++;
    await new Promise((r) => setImmediate(r));
    const hook = this.hook;
    this.hook = undefined;
    hook?.beforeRead?.();
    const page = [...this.rows.values()]
      .filter((r) => r.envelope.recipient === address && r.devices.has(device) && r.envelope.seq > afterSeq)
      .map((r) => r.envelope)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit);
    hook?.afterRead?.();
    await new Promise((r) => setImmediate(r));
    return page;
  }

  async ack(address: string, device: string, envelopeIds: string[]): Promise<number> {
    if (this.failAck) throw new Error("store down");
    const wanted = new Set(envelopeIds);
    let count = 0;
    for (const [seq, r] of this.rows) {
      if (r.envelope.recipient !== address || !wanted.has(r.envelope.envelopeId)) continue;
      if (r.devices.delete(device)) count++;
      if (r.devices.size === 0) this.rows.delete(seq);
    }
    return count;
  }

  pendingIds(address: string, device: string): string[] {
    return [...this.rows.values()]
      .filter((r) => r.envelope.recipient === address && r.devices.has(device))
      .map((r) => r.envelope.envelopeId);
  }
}

class FakeAuth {
  private readonly tokens = new Map<string, AuthedDevice>();

  token(address: string, device: string): string {
    const token = randomBytes(32).toString("base64url");
    this.tokens.set(token, { address: address as PeopleAddress, device: device as DeviceId });
    return token;
  }

  async authenticate(header: string | undefined, _now: number): Promise<AuthedDevice> {
    await new Promise((r) => setImmediate(r));
    const m = header ? /^Bearer ([A-Za-z0-9_-]{43})$/.exec(header) : null;
    const who = m ? this.tokens.get(m[1]!) : undefined;
    if (!who) throw new PeopleError("PEOPLE_UNAUTHORIZED", "invalid token");
    return who;
  }
}

// --- harness ------------------------------------------------------------------

let tls: { cert: string; key: string };

interface Harness {
  hub: LiveHub;
  mailbox: FakeMailbox;
  auth: FakeAuth;
  metrics: ServerMetrics;
  url: string;
  server: Server;
  stop(): Promise<void>;
}

async function startHarness(o: Partial<LiveOptions> = {}): Promise<Harness> {
  const mailbox = new FakeMailbox();
  const auth = new FakeAuth();
  const metrics = new ServerMetrics();
  const hub = new LiveHub({
    auth,
    store: { mailbox },
    metrics,
    log: createLogger("silent"),
    maxConnections: 100,
    authTimeoutMs: 300,
    ...o,
  });
  mailbox.listener = hub;
  const server = createServer({ cert: tls.cert, key: tls.key }, (_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  hub.attach(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    hub,
    mailbox,
    auth,
    metrics,
    server,
    url: `wss://127.0.0.1:${port}/_people/v1/live`,
    async stop() {
      await hub.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

type Frame = Record<string, unknown> & { type: string };

/** A ws client that queues the frames it receives. */
class Client {
  private readonly frames: Frame[] = [];
  private waiter: (() => void) | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      this.frames.push(JSON.parse(String(data)) as Frame);
      this.waiter?.();
    });
    this.closed = new Promise((resolve) =>
      ws.once("close", (code, reason) => resolve({ code, reason: String(reason) })),
    );
    ws.on("error", () => {});
  }

  static async open(url: string, o: { token?: string; autoPong?: boolean } = {}): Promise<Client> {
    const ws = new WebSocket(url, {
      ca: tls.cert,
      headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
      autoPong: o.autoPong ?? true,
    });
    const client = new Client(ws);
    await once(ws, "open");
    return client;
  }

  /** Connect with the header and wait for ready. */
  static async ready(h: Harness, address: string, device: string): Promise<Client> {
    const c = await Client.open(h.url, { token: h.auth.token(address, device) });
    assert.deepEqual(await c.next(), { type: "ready", address, device });
    return c;
  }

  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  async next(timeoutMs = 3000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("no frame arrived");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.frames.shift()!;
  }

  /** Frames until (and including) the first of `type`. */
  async until(type: string): Promise<Frame[]> {
    const out: Frame[] = [];
    for (;;) {
      const f = await this.next();
      out.push(f);
      if (f.type === type) return out;
    }
  }

  /** Nothing else arrived before a ping's pong. */
  async expectQuiet(): Promise<void> {
    this.send({ type: "ping" });
    assert.deepEqual(await this.next(), { type: "pong" });
  }

  close(): void {
    this.ws.close();
  }
}

/** An upgrade the server refuses: its status and JSON body. */
async function refused(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  const ws = new WebSocket(url, { ca: tls.cert, headers });
  ws.on("error", () => {});
  const [, res] = (await once(ws, "unexpected-response")) as [unknown, import("node:http").IncomingMessage];
  let text = "";
  for await (const chunk of res) text += String(chunk);
  return { status: res.statusCode ?? 0, body: JSON.parse(text) };
}

function envelopeOf(e: StoredEnvelope): Frame {
  return {
    type: "envelope",
    seq: e.seq,
    id: e.envelopeId,
    expires_at: e.expiresAt,
    data: e.inner.toString("base64url"),
  };
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function gauge(metrics: ServerMetrics): Promise<number> {
  return (await metrics.liveConnections.get()).values[0]?.value ?? 0;
}

async function counter(metrics: ServerMetrics): Promise<number> {
  return (await metrics.livePushes.get()).values[0]?.value ?? 0;
}

// --- tests ----------------------------------------------------------------------

describe("live WebSocket hub", function () {
  this.timeout(10_000);

  before(async function () {
    const pems = await generate([{ name: "commonName", value: "127.0.0.1" }], {
      keyType: "ec",
      curve: "P-256",
      algorithm: "sha256",
      extensions: [
        { name: "basicConstraints", cA: true },
        { name: "keyUsage", digitalSignature: true, keyCertSign: true },
        { name: "extKeyUsage", serverAuth: true },
        { name: "subjectAltName", altNames: [{ type: 7, ip: "127.0.0.1" }] },
      ],
    });
    tls = { cert: pems.cert, key: pems.private };
  });

  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.stop();
  });

  describe("authentication", () => {
    it("accepts a bearer token in the upgrade request", async () => {
      const c = await Client.ready(h, ALICE, "a1");
      assert.deepEqual(await c.next(), { type: "caught_up", seq: 0 });
      assert.equal(h.hub.connectionCount(), 1);
      assert.equal(await gauge(h.metrics), 1);
    });

    it("answers a bad token with 401 before upgrading", async () => {
      const r = await refused(h.url, { authorization: `Bearer ${randomBytes(32).toString("base64url")}` });
      assert.equal(r.status, 401);
      assert.deepEqual(r.body, { errcode: "PEOPLE_UNAUTHORIZED", error: "Authentication is required." });
      assert.equal(h.hub.connectionCount(), 0);
    });

    it("answers other paths with 404", async () => {
      const r = await refused(h.url.replace("/live", "/elsewhere"));
      assert.equal(r.status, 404);
      assert.equal((r.body as { errcode: string }).errcode, "PEOPLE_NOT_FOUND");
    });

    it("accepts the token as the first message", async () => {
      const c = await Client.open(h.url);
      c.send({ type: "auth", token: h.auth.token(ALICE, "a1") });
      assert.deepEqual(await c.next(), { type: "ready", address: ALICE, device: "a1" });
      assert.deepEqual(await c.next(), { type: "caught_up", seq: 0 });
      await c.expectQuiet();
    });

    it("closes with 4401 when no auth message comes in time", async () => {
      const c = await Client.open(h.url);
      assert.equal((await c.closed).code, 4401);
      await waitFor(() => h.hub.connectionCount() === 0, "the socket to be dropped");
    });

    it("closes with 4401 on a bad token message or any other first frame", async () => {
      const bad = await Client.open(h.url);
      bad.send({ type: "auth", token: randomBytes(32).toString("base64url") });
      assert.equal((await bad.closed).code, 4401);
      const early = await Client.open(h.url);
      early.send({ type: "ping" });
      assert.equal((await early.closed).code, 4401);
      const garbage = await Client.open(h.url);
      garbage.ws.send("{nope");
      assert.equal((await garbage.closed).code, 4401);
    });
  });

  describe("delivery", () => {
    it("catches up, then pushes live, in seq order and exactly once, across catch-up", async () => {
      const stored = [1, 2, 3].map(() => h.mailbox.deliver(ALICE, ["a1"]));
      // Stored while catch-up reads the mailbox: one is seen by the read and also
      // pushed (must not repeat), one lands just after the read (must not be lost).
      h.mailbox.hook = {
        beforeRead: () => stored.push(h.mailbox.deliver(ALICE, ["a1"])),
        afterRead: () => stored.push(h.mailbox.deliver(ALICE, ["a1"])),
      };
      const pushesBefore = await counter(h.metrics);
      const c = await Client.ready(h, ALICE, "a1");
      const catchUp = await c.until("caught_up");
      assert.deepEqual(catchUp, [...stored.map(envelopeOf), { type: "caught_up", seq: 5 }]);
      const live = [h.mailbox.deliver(ALICE, ["a1"]), h.mailbox.deliver(ALICE, ["a1"])];
      assert.deepEqual(await c.next(), envelopeOf(live[0]!));
      assert.deepEqual(await c.next(), envelopeOf(live[1]!));
      await c.expectQuiet();
      assert.equal((await counter(h.metrics)) - pushesBefore, 7);
    });

    it("catches up a mailbox larger than a page, and pushes stored in bulk during catch-up", async () => {
      for (let i = 0; i < 1100; i++) h.mailbox.deliver(ALICE, ["a1"], Buffer.from([i & 0xff]));
      // More pushes than the hub buffers during catch-up: it must re-read the mailbox.
      h.mailbox.hook = {
        afterRead: () => {
          for (let i = 0; i < 300; i++) h.mailbox.deliver(ALICE, ["a1"]);
        },
      };
      const c = await Client.ready(h, ALICE, "a1");
      const frames = await c.until("caught_up");
      const seqs = frames.slice(0, -1).map((f) => f.seq);
      assert.deepEqual(
        seqs,
        Array.from({ length: 1400 }, (_, i) => i + 1),
      );
      assert.deepEqual(frames.at(-1), { type: "caught_up", seq: 1400 });
      assert.ok(h.mailbox.pendingCalls >= 4);
      await c.expectQuiet();
    });

    it("removes acknowledged envelopes from the mailbox", async () => {
      const [e1, e2, e3] = [1, 2, 3].map(() => h.mailbox.deliver(ALICE, ["a1", "a2"]));
      const c = await Client.ready(h, ALICE, "a1");
      await c.until("caught_up");
      c.send({ type: "ack", ids: [e1!.envelopeId, e2!.envelopeId, randomBytes(16).toString("base64url")] });
      assert.deepEqual(await c.next(), { type: "acked", count: 2 });
      assert.deepEqual(h.mailbox.pendingIds(ALICE, "a1"), [e3!.envelopeId]);
      // Still waiting for a2.
      assert.equal(h.mailbox.pendingIds(ALICE, "a2").length, 3);
      c.close();
      const again = await Client.ready(h, ALICE, "a1");
      assert.deepEqual(await again.until("caught_up"), [envelopeOf(e3!), { type: "caught_up", seq: 3 }]);
    });

    it("pushes to every socket of the devices an envelope is for, and to no other", async () => {
      const first = await Client.ready(h, ALICE, "a1");
      const second = await Client.ready(h, ALICE, "a1");
      const other = await Client.ready(h, ALICE, "a2");
      const bobs = await Client.ready(h, BOB, "a1");
      for (const c of [first, second, other, bobs]) await c.until("caught_up");
      const e = h.mailbox.deliver(ALICE, ["a1", "a3"]);
      assert.deepEqual(await first.next(), envelopeOf(e));
      assert.deepEqual(await second.next(), envelopeOf(e));
      await other.expectQuiet();
      await bobs.expectQuiet();
    });

    it("terminates a socket that stops reading; the mailbox keeps the mail", async () => {
      const c = await Client.ready(h, ALICE, "a1");
      await c.until("caught_up");
      c.ws.pause();
      for (let i = 0; i < 24; i++) h.mailbox.deliver(ALICE, ["a1"], randomBytes(1024 * 1024));
      await waitFor(() => h.hub.connectionCount() === 0, "the socket to be terminated");
      assert.equal(h.mailbox.pendingIds(ALICE, "a1").length, 24);
    });

    it("closes with 1011 when the store fails, without crashing", async () => {
      const c = await Client.ready(h, ALICE, "a1");
      await c.until("caught_up");
      h.mailbox.failAck = true;
      c.send({ type: "ack", ids: [randomBytes(16).toString("base64url")] });
      assert.equal((await c.closed).code, 1011);
    });
  });

  describe("relay", () => {
    it("delivers between connected devices with the sender as from", async () => {
      const a1 = await Client.ready(h, ALICE, "a1");
      const a2 = await Client.ready(h, ALICE, "a2");
      const b1 = await Client.ready(h, BOB, "b1");
      for (const c of [a1, a2, b1]) await c.until("caught_up");
      const data = randomBytes(64 * 1024).toString("base64url");
      a1.send({ type: "relay", to: { address: ALICE, device: "a2" }, session: "s1", data });
      assert.deepEqual(await a2.next(), {
        type: "relay",
        from: { address: ALICE, device: "a1" },
        session: "s1",
        data,
      });
      b1.send({ type: "relay", to: { address: ALICE, device: "a1" }, session: "s2", data: "AQID" });
      assert.deepEqual(await a1.next(), {
        type: "relay",
        from: { address: BOB, device: "b1" },
        session: "s2",
        data: "AQID",
      });
      await a1.expectQuiet();
      await b1.expectQuiet();
    });

    it("answers PEOPLE_UNAVAILABLE for a device not connected or on another server", async () => {
      const a1 = await Client.ready(h, ALICE, "a1");
      await a1.until("caught_up");
      a1.send({ type: "relay", to: { address: ALICE, device: "a9" }, session: "s1", data: "AQID" });
      const err = await a1.next();
      assert.equal(err.type, "error");
      assert.equal(err.errcode, "PEOPLE_UNAVAILABLE");
      assert.equal(err.session, "s1");
      a1.send({ type: "relay", to: { address: "carol@example.net", device: "c1" }, session: "s2", data: "" });
      const remote = await a1.next();
      assert.equal(remote.errcode, "PEOPLE_UNAVAILABLE");
      assert.equal(remote.session, "s2");
    });

    it("on several processes, hands frames for a device not here to the others in order, and refuses when they fail", async () => {
      const batches: string[][] = [];
      const registered: string[] = [];
      let fail = false;
      let release: (() => void) | undefined;
      h.hub.joinCluster({
        add: (address, device) => {
          registered.push(`+${address}/${device}`);
          return Promise.resolve();
        },
        remove: (address, device) => void registered.push(`-${address}/${device}`),
        forwardMany: async (frames) => {
          // The first write is held, so the frames sent meanwhile wait and go together.
          if (batches.length === 0) await new Promise<void>((r) => (release = r));
          batches.push(frames.map((f) => f.data));
          if (fail) throw new PeopleError("PEOPLE_UNAVAILABLE", "that device is not connected");
        },
      });
      const a1 = await Client.ready(h, ALICE, "a1");
      await a1.until("caught_up");
      assert.deepEqual(registered, [`+${ALICE}/a1`]);
      const frames = ["AAAA", "AAAB", "AAAC", "AAAD"];
      for (const data of frames) {
        a1.send({ type: "relay", to: { address: ALICE, device: "a9" }, session: "s1", data });
      }
      a1.send({ type: "ping" });
      while (!release) await new Promise((r) => setImmediate(r));
      release();
      assert.deepEqual(await a1.next(), { type: "pong" });
      assert.deepEqual(batches.flat(), frames);
      assert.ok(batches.length < frames.length, "frames queued behind a write go in one");
      fail = true;
      a1.send({ type: "relay", to: { address: ALICE, device: "a9" }, session: "s2", data: "AQID" });
      const err = await a1.next();
      assert.equal(err.errcode, "PEOPLE_UNAVAILABLE");
      assert.equal(err.session, "s2");
      a1.ws.close();
      while (registered.length < 2) await new Promise((r) => setImmediate(r));
      assert.deepEqual(registered, [`+${ALICE}/a1`, `-${ALICE}/a1`]);
    });
  });

  describe("malformed input", () => {
    it("answers malformed frames with an error and keeps the socket", async () => {
      const c = await Client.ready(h, ALICE, "a1");
      await c.until("caught_up");
      const bad: (string | Buffer)[] = [
        "not json",
        JSON.stringify({ type: "nope" }),
        JSON.stringify({ type: "ack", ids: [] }),
        JSON.stringify({
          type: "ack",
          ids: Array.from({ length: 501 }, () => randomBytes(16).toString("base64url")),
        }),
        JSON.stringify({ type: "ack", ids: ["short"] }),
        JSON.stringify({
          type: "relay",
          to: { address: "Alice@example.org", device: "a2" },
          session: "s",
          data: "",
        }),
        JSON.stringify({ type: "relay", to: { address: ALICE, device: "a2" }, session: "s", data: "a+b/" }),
        JSON.stringify({
          type: "relay",
          to: { address: ALICE, device: "a2" },
          session: "s",
          data: randomBytes(64 * 1024 + 3).toString("base64url"),
        }),
        JSON.stringify({ type: "auth", token: "again" }),
        Buffer.from([1, 2, 3]),
      ];
      for (const frame of bad) {
        c.ws.send(frame, { binary: typeof frame !== "string" });
        const err = await c.next();
        assert.equal(err.type, "error");
        assert.equal(err.errcode, "PEOPLE_BAD_REQUEST");
        assert.equal(typeof err.error, "string");
      }
      await c.expectQuiet();
    });

    it("closes with 1008 after more than 20 malformed frames", async () => {
      const c = await Client.ready(h, ALICE, "a1");
      await c.until("caught_up");
      for (let i = 0; i < 21; i++) c.ws.send("{");
      for (let i = 0; i < 20; i++) assert.equal((await c.next()).errcode, "PEOPLE_BAD_REQUEST");
      assert.equal((await c.closed).code, 1008);
    });

    it("closes with 1009 on a frame larger than 128 KiB", async () => {
      const c = await Client.ready(h, ALICE, "a1");
      await c.until("caught_up");
      c.ws.send("x".repeat(128 * 1024 + 1));
      assert.equal((await c.closed).code, 1009);
    });
  });

  describe("limits and shutdown", () => {
    it("answers 503 beyond maxConnections", async () => {
      await h.stop();
      h = await startHarness({ maxConnections: 2 });
      await Client.ready(h, ALICE, "a1");
      await Client.open(h.url); // not authenticated yet, still counted
      const r = await refused(h.url, { authorization: `Bearer ${h.auth.token(ALICE, "a2")}` });
      assert.equal(r.status, 503);
      assert.equal((r.body as { errcode: string }).errcode, "PEOPLE_UNAVAILABLE");
    });

    it("terminates a socket that does not answer pings", async () => {
      await h.stop();
      h = await startHarness({ pingIntervalMs: 100 });
      const deaf = await Client.open(h.url, { token: h.auth.token(ALICE, "a1"), autoPong: false });
      const alive = await Client.ready(h, ALICE, "a2");
      assert.equal((await deaf.closed).code, 1006);
      await alive.until("caught_up");
      await alive.expectQuiet();
      assert.equal(h.hub.connectionCount(), 1);
    });

    it("close() closes every socket with 1001", async () => {
      const clients = [
        await Client.ready(h, ALICE, "a1"),
        await Client.ready(h, BOB, "b1"),
        await Client.open(h.url),
      ];
      await h.hub.close();
      for (const c of clients) assert.equal((await c.closed).code, 1001);
      assert.equal(h.hub.connectionCount(), 0);
      assert.equal(await gauge(h.metrics), 0);
      const r = await refused(h.url, { authorization: `Bearer ${h.auth.token(ALICE, "a1")}` });
      assert.equal(r.status, 503);
    });
  });
});
