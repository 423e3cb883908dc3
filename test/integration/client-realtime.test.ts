// Realtime data sessions between real clients on two real People servers
// (a.test, b.test, which pin each other, and c.test, which neither can reach):
// relayed between devices of one server, direct over a WebSocket the callee
// listens on, relayed through both servers across domains, and falling back
// to sealed envelopes when the other server cannot be reached. Frames
// altered, replayed or reordered on the way are rejected; a hangup zeroes the keys.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { PeopleClient } from "../../src/people/client/people-client.js";
import type { AcceptOptions, RtSession, RtTransport } from "../../src/people/client/realtime.js";
import { FrameCipher, MAX_FRAME_DATA } from "../../src/people/protocol/frame-cipher.js";
import { deriveSessionKeys, rtTranscript } from "../../src/people/protocol/realtime-keys.js";
import { isPeopleError } from "../../src/people/errors.js";
import { newMessageId } from "../../src/people/protocol/ids.js";
import { X25519KeyPair } from "../../src/people/protocol/keys.js";
import { startLinkedServers, startTestServer, type TestServer } from "../helpers/people-servers.js";
import { freePort } from "../helpers/ports.js";
import { clientOptions, networkOf, removeTempDirs, tempDir, waitUntil } from "../helpers/client-fixtures.js";

const JANE = "jane@a.test";
const ANN = "ann@a.test";
const JOE = "joe@b.test";
const KIM = "kim@c.test";

const isZero = (b: Buffer) => b.every((x) => x === 0);

describe("realtime session keys and frames", () => {
  const identity = (address: string, device: string) => ({
    address,
    device,
    signKey: Buffer.alloc(32, address.length),
  });

  it("both sides derive the same direction keys, and any change to the transcript gives other keys", () => {
    const caller = X25519KeyPair.generate();
    const callee = X25519KeyPair.generate();
    const t = {
      session: newMessageId(),
      media: "data",
      caller: identity(JANE, "dev1"),
      callee: identity(JOE, "dev2"),
      callerEph: caller.publicKey.raw,
      calleeEph: callee.publicKey.raw,
    };
    const atCaller = deriveSessionKeys(caller.dh(callee.publicKey), rtTranscript(t));
    const atCallee = deriveSessionKeys(callee.dh(caller.publicKey), rtTranscript(t));
    assert(atCaller.c2s.equals(atCallee.c2s) && atCaller.s2c.equals(atCallee.s2c));
    assert(!atCaller.c2s.equals(atCaller.s2c), "one key per direction");
    const changed = [
      { ...t, session: newMessageId() },
      { ...t, callee: identity(JOE, "dev3") },
      { ...t, caller: { ...t.caller, signKey: Buffer.alloc(32, 99) } },
      { ...t, callerEph: t.calleeEph, calleeEph: t.callerEph },
    ];
    for (const c of changed)
      assert(!deriveSessionKeys(caller.dh(callee.publicKey), rtTranscript(c)).c2s.equals(atCaller.c2s));
  });

  it("accepts each frame once and in order: replayed, reordered, altered and reflected frames are rejected", () => {
    const { c2s, s2c } = deriveSessionKeys(Buffer.alloc(32, 7), Buffer.from("transcript"));
    const id = Buffer.alloc(16, 1);
    const caller = new FrameCipher(id, Buffer.from(c2s), Buffer.from(s2c), 0);
    const callee = new FrameCipher(id, Buffer.from(s2c), Buffer.from(c2s), 1);
    const f = [0, 1, 2].map((i) => caller.seal(0, Buffer.from(`frame ${i}`)));
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return isPeopleError(e) ? e.code : "other";
      }
      return "accepted";
    };
    assert.equal(callee.open(f[0]!).payload.toString(), "frame 0");
    assert.equal(
      code(() => callee.open(f[0]!)),
      "PEOPLE_REPLAYED",
    );
    assert.equal(
      code(() => callee.open(f[2]!)),
      "PEOPLE_BAD_ENVELOPE",
      "reordered",
    );
    const altered = Buffer.from(f[1]!);
    altered[altered.length - 1]! ^= 1;
    assert.equal(
      code(() => callee.open(altered)),
      "PEOPLE_DECRYPT_FAILED",
    );
    const recounted = Buffer.from(f[2]!);
    recounted.writeBigUInt64BE(1n, 1); // frame 2's bytes claiming to be frame 1
    assert.equal(
      code(() => callee.open(recounted)),
      "PEOPLE_DECRYPT_FAILED",
    );
    assert.equal(
      code(() => caller.open(f[0]!)),
      "PEOPLE_DECRYPT_FAILED",
      "reflected to its sender",
    );
    assert.equal(callee.open(f[1]!).payload.toString(), "frame 1", "rejections changed nothing");
    assert.equal(callee.open(f[2]!).payload.toString(), "frame 2");
    callee.erase();
    assert(callee.keys.every(isZero));
    assert.equal(
      code(() => callee.open(f[2]!)),
      "PEOPLE_BAD_REQUEST",
    );
  });
});

/** A man in the middle of the (TLS-less) direct path: forwards, and alters or repeats chosen frames. */
async function startProxy(rules: { alter: number[]; repeat: number[] }) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await once(wss, "listening");
  let setTarget!: (url: string) => void;
  const target = new Promise<string>((resolve) => (setTarget = resolve));
  wss.on("connection", (down) => {
    let up: WebSocket | undefined;
    const queue: Buffer[] = [];
    let index = 0;
    const forward = (frame: Buffer) => {
      const i = index++;
      if (rules.alter.includes(i)) {
        const altered = Buffer.from(frame);
        altered[altered.length - 1]! ^= 0x40;
        up!.send(altered);
      }
      up!.send(frame);
      if (rules.repeat.includes(i)) up!.send(frame);
    };
    down.on("message", (data: RawData) => {
      const frame = Buffer.from(data as Buffer);
      if (up?.readyState === WebSocket.OPEN) forward(frame);
      else queue.push(frame);
    });
    down.on("close", () => up?.close());
    void target.then((url) => {
      up = new WebSocket(url);
      up.on("open", () => queue.splice(0).forEach(forward));
      up.on("message", (data: RawData) => down.send(data));
      up.on("close", () => down.close());
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    setTarget,
    close: () => new Promise<void>((resolve) => wss.close(() => resolve())),
  };
}

describe("People client: realtime sessions", function () {
  this.timeout(60_000);
  let a: TestServer;
  let b: TestServer;
  let c: TestServer;
  const clients: Record<string, PeopleClient> = {};

  before(async function () {
    // Servers relay to each other only when they can reach each other: c.test is pinned to a closed port.
    const closed = `127.0.0.1:${await freePort()}`;
    [a, b] = (await startLinkedServers(["a.test", "b.test"], { pins: { "c.test": closed } })) as [
      TestServer,
      TestServer,
    ];
    c = await startTestServer("c.test", {
      config: { discovery: { pins: { "a.test": closed, "b.test": closed } } },
    });
    // The clients reach every server (envelopes go from the client to the recipient's server).
    const network = networkOf([a, b, c]);
    for (const address of [JANE, ANN, JOE, KIM]) {
      const client = await PeopleClient.create({
        ...clientOptions(network, tempDir(address.split("@")[0]!)),
        address,
      });
      await client.start();
      clients[address] = client;
    }
  });

  after(async () => {
    for (const c of Object.values(clients)) await c.close().catch(() => undefined);
    await a?.stop();
    await b?.stop();
    await c?.stop();
    removeTempDirs();
  });

  interface Pair {
    caller: RtSession;
    callee: RtSession;
    transports: RtTransport[];
  }

  async function connect(
    from: string,
    to: string,
    o: AcceptOptions = {},
    onAccepted?: (callee: RtSession) => void,
  ): Promise<Pair> {
    const ringing = clients[to]!.realtime.events.once("offer");
    const caller = await clients[from]!.realtime.call(to);
    const transports: RtTransport[] = [];
    caller.on("transport", (t) => transports.push(t.transport));
    const offer = await ringing;
    assert.equal(offer.session, caller.id);
    assert.equal(offer.from, from);
    assert.equal(offer.device, clients[from]!.device);
    const callee = await clients[to]!.realtime.accept(offer.session, o);
    onAccepted?.(callee);
    await Promise.all([caller.whenOpen(), callee.whenOpen()]);
    return { caller, callee, transports };
  }

  function collect(s: RtSession): string[] {
    const got: string[] = [];
    s.on("data", (d) => got.push(d.toString("utf8")));
    return got;
  }

  /** n frames each way, sent back to back; both sides get exactly them, in order. */
  async function exchange(p: Pair, n: number, label: string): Promise<void> {
    const atCallee = collect(p.callee);
    const atCaller = collect(p.caller);
    const there = Array.from({ length: n }, (_, i) => `${label} →${i}`);
    const back = Array.from({ length: n }, (_, i) => `${label} ←${i}`);
    await Promise.all([
      ...there.map((t) => p.caller.send(Buffer.from(t))),
      ...back.map((t) => p.callee.send(Buffer.from(t))),
    ]);
    await waitUntil(() => atCallee.length >= n && atCaller.length >= n, `${label}: every frame`);
    await new Promise((r) => setTimeout(r, 100)); // room for a duplicate to show up
    assert.deepEqual(atCallee, there);
    assert.deepEqual(atCaller, back);
  }

  it("relays a session between two devices of one server; a hangup zeroes both sides' keys and ends sending", async () => {
    const p = await connect(JANE, ANN);
    assert.equal(p.caller.transport, "relay");
    assert.equal(p.callee.transport, "relay");
    await exchange(p, 20, "relay");
    const big = randomBytes(MAX_FRAME_DATA);
    const arrived = p.caller.events.once("data");
    await p.callee.send(big);
    assert((await arrived).equals(big), "the largest frame fits a relay frame");
    assert.equal(p.caller.stats.rejected + p.callee.stats.rejected, 0);

    const keys = [...p.caller.exposeKeysForTesting(), ...p.callee.exposeKeysForTesting()];
    assert.equal(keys.length, 4);
    assert(keys.every((k) => k.length === 32 && !isZero(k)));
    assert(
      keys[0]!.equals(keys[3]!) && keys[1]!.equals(keys[2]!),
      "caller's send key is the callee's receive key",
    );

    const ended = p.callee.events.once("close");
    await p.caller.hangup("normal");
    assert.deepEqual(await ended, { reason: "normal", remote: true });
    assert(keys.every(isZero), "both sides' session keys are zeroed");
    for (const s of [p.caller, p.callee]) {
      assert.equal(s.state, "closed");
      await assert.rejects(s.send(Buffer.from("too late")), /closed/);
    }
    assert.equal(clients[JANE]!.realtime.sessions().length, 0);
    assert.equal(clients[ANN]!.realtime.sessions().length, 0);
  });

  it("runs the same session directly when the callee listens (127.0.0.1:0)", async () => {
    const p = await connect(JANE, ANN, { listen: { host: "127.0.0.1", port: 0 } });
    assert.equal(p.caller.transport, "direct");
    assert.equal(p.callee.transport, "direct");
    assert.match(p.callee.listening!, /^ws:\/\/127\.0\.0\.1:\d+$/);
    await exchange(p, 20, "direct");
    const keys = [...p.caller.exposeKeysForTesting(), ...p.callee.exposeKeysForTesting()];
    const ended = p.caller.events.once("close");
    await p.callee.hangup("normal");
    assert.deepEqual(await ended, { reason: "normal", remote: true }, "the bye frame arrives at once");
    assert(keys.every(isZero));
  });

  it("rejects frames altered or replayed on the direct path and still delivers the genuine ones once, in order", async () => {
    // Caller frames through the proxy: 0 hello (repeated), 1, 2 (an altered copy first), 3 (repeated), 4, 5.
    const proxy = await startProxy({ alter: [2], repeat: [0, 3] });
    try {
      const rejected: string[] = [];
      const p = await connect(
        JANE,
        ANN,
        { listen: { host: "127.0.0.1", port: 0 }, advertise: proxy.url },
        (callee) => {
          callee.on("rejected", (r) => rejected.push(r.code));
          proxy.setTarget(callee.listening!);
        },
      );
      assert.equal(p.caller.transport, "direct");
      const got = collect(p.callee);
      for (let i = 1; i <= 5; i++) await p.caller.send(Buffer.from(`frame ${i}`));
      await waitUntil(() => got.length >= 5 && rejected.length >= 3, "frames and rejections");
      assert.deepEqual(got, ["frame 1", "frame 2", "frame 3", "frame 4", "frame 5"]);
      assert.deepEqual(rejected, ["PEOPLE_REPLAYED", "PEOPLE_DECRYPT_FAILED", "PEOPLE_REPLAYED"]);
      await p.caller.hangup();
    } finally {
      await proxy.close();
    }
  });

  it("relays a session across servers through both servers", async () => {
    const p = await connect(JANE, JOE);
    await exchange(p, 20, "cross relay");
    const big = randomBytes(MAX_FRAME_DATA);
    const arrived = p.callee.events.once("data");
    await p.caller.send(big);
    assert((await arrived).equals(big), "the largest frame fits a relay frame between servers");
    assert.deepEqual(p.transports, ["relay"], "no fallback to envelopes");
    assert.equal(p.caller.transport, "relay");
    assert.equal(p.callee.transport, "relay");
    assert.equal(p.caller.stats.rejected + p.callee.stats.rejected, 0);
    const keys = [...p.caller.exposeKeysForTesting(), ...p.callee.exposeKeysForTesting()];
    const ended = p.callee.events.once("close");
    await p.caller.hangup("normal");
    assert.deepEqual(await ended, { reason: "normal", remote: true });
    assert(keys.every(isZero));
  });

  it("falls back to sealed envelopes when the other server cannot be reached and still delivers in order", async () => {
    const p = await connect(JANE, KIM);
    await exchange(p, 5, "cross");
    // The largest frame fits one envelope.
    const big = randomBytes(MAX_FRAME_DATA);
    const arrived = p.callee.events.once("data");
    await p.caller.send(big);
    assert((await arrived).equals(big));
    await assert.rejects(p.caller.send(Buffer.alloc(MAX_FRAME_DATA + 1)), (e) =>
      isPeopleError(e, "PEOPLE_TOO_LARGE"),
    );
    // Neither server can reach the other: each side tried relay, was refused, and went on by envelope.
    assert.deepEqual(p.transports, ["relay", "envelope"]);
    assert.equal(p.caller.transport, "envelope");
    assert.equal(p.callee.transport, "envelope");
    const keys = [...p.caller.exposeKeysForTesting(), ...p.callee.exposeKeysForTesting()];
    const ended = p.caller.events.once("close");
    await p.callee.hangup("normal");
    assert.deepEqual(await ended, { reason: "normal", remote: true });
    assert(keys.every(isZero));
  });

  it("ends a declined call at the caller", async () => {
    const ringing = clients[ANN]!.realtime.events.once("offer");
    const caller = await clients[JANE]!.realtime.call(ANN);
    const ended = caller.events.once("close");
    await clients[ANN]!.realtime.decline((await ringing).session);
    assert.deepEqual(await ended, { reason: "declined", remote: true });
    await assert.rejects(caller.whenOpen());
    assert.deepEqual(clients[ANN]!.realtime.incoming(), []);
  });
});
