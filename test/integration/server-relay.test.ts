// Realtime frames between two real People servers (a.test, b.test) that pin
// each other: a `relay` frame for a device on the other domain is POSTed to
// its server, signed by the sending server's identity key, and delivered to
// that device's live sockets. Requests that are forged, from the wrong
// domain or stale are refused and deliver nothing.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { WebSocket, type RawData } from "ws";
import { Ed25519KeyPair } from "../../src/people/protocol/keys.js";
import { signBytes } from "../../src/people/protocol/signing.js";
import {
  FIRST_CONTACT_TIMEOUT_MS,
  RELAY_PATH,
  RELAY_TIMEOUT_MS,
} from "../../src/people/server/relay-service.js";
import { freePort } from "../helpers/ports.js";
import { SwitchProxy } from "../helpers/switch-proxy.js";
import {
  login,
  registerAccount,
  startLinkedServers,
  startTestServer,
  type TestServer,
} from "../helpers/people-servers.js";

type Frame = Record<string, unknown>;

/** A device's live socket, with the frames it received in a queue. */
class Live {
  private readonly frames: Frame[] = [];
  private readonly waiters: ((f: Frame) => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data: RawData) => {
      const f = JSON.parse((data as Buffer).toString("utf8")) as Frame;
      const w = this.waiters.shift();
      if (w) w(f);
      else this.frames.push(f);
    });
  }

  static async open(server: TestServer, token: string): Promise<Live> {
    const ws = new WebSocket(`${server.url.replace("https:", "wss:")}/_people/v1/live`, {
      headers: { authorization: `Bearer ${token}` },
      ca: server.handle.certificate,
    });
    const live = new Live(ws);
    await once(ws, "open");
    assert.equal((await live.next()).type, "ready");
    assert.equal((await live.next()).type, "caught_up");
    return live;
  }

  send(f: Frame): void {
    this.ws.send(JSON.stringify(f));
  }

  next(timeoutMs = 10_000): Promise<Frame> {
    const f = this.frames.shift();
    if (f) return Promise.resolve(f);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no frame")), timeoutMs);
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  /** Nothing arrives for a while. */
  async quiet(ms = 300): Promise<void> {
    await new Promise((r) => setTimeout(r, ms));
    assert.deepEqual(this.frames, []);
  }

  close(): void {
    this.ws.close();
  }
}

describe("relay between servers", function () {
  this.timeout(60_000);
  let a: TestServer;
  let b: TestServer;
  let jane: { address: string; device: string; token: string };
  let joe: { address: string; device: string; token: string };
  let joe2: { address: string; device: string };
  const sockets: Live[] = [];

  before(async () => {
    [a, b] = (await startLinkedServers(["a.test", "b.test"])) as [TestServer, TestServer];
    const ja = await registerAccount(a, "jane");
    const jo = await registerAccount(b, "joe", 2);
    jane = { address: ja.address, device: ja.devices[0]!.device, token: await login(a, ja.devices[0]!) };
    joe = { address: jo.address, device: jo.devices[0]!.device, token: await login(b, jo.devices[0]!) };
    joe2 = { address: jo.address, device: jo.devices[1]!.device };
  });

  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
  });

  async function open(server: TestServer, token: string): Promise<Live> {
    const live = await Live.open(server, token);
    sockets.push(live);
    return live;
  }

  /** A relay request as a.test would make it, signed by `key` (a.test's identity key by default). */
  function request(
    body: Record<string, unknown>,
    key: Ed25519KeyPair = a.handle.keys.identity.identityKey,
  ): { body: Buffer; signature: string } {
    const bytes = Buffer.from(
      JSON.stringify({
        v: 1,
        origin: "a.test",
        from: { address: jane.address, device: jane.device },
        to: { address: joe.address, device: joe.device },
        session: "s1",
        data: "AQID",
        ts: Date.now(),
        ...body,
      }),
    );
    return { body: bytes, signature: signBytes(key, "server-relay", bytes).toString("base64url") };
  }

  async function post(r: { body: Buffer; signature?: string }): Promise<{ status: number; json: Frame }> {
    const res = await b.http.send("POST", `${b.url}${RELAY_PATH}`, {
      headers: {
        "content-type": "application/json",
        ...(r.signature !== undefined ? { "x-people-signature": r.signature } : {}),
      },
      body: r.body,
    });
    return { status: res.status, json: JSON.parse(res.body.toString("utf8") || "{}") as Frame };
  }

  it("relays frames from a device on a.test to a device on b.test, in order, with the sender as from", async () => {
    const sender = await open(a, jane.token);
    const target = await open(b, joe.token);
    const frames = Array.from({ length: 50 }, (_, i) => randomBytes(i === 0 ? 64 * 1024 : 100 + i));
    for (const [i, f] of frames.entries()) {
      sender.send({
        type: "relay",
        to: { address: joe.address, device: joe.device },
        session: `s${i % 3}`,
        data: f.toString("base64url"),
      });
    }
    sender.send({ type: "ping" });
    for (const [i, f] of frames.entries()) {
      assert.deepEqual(await target.next(), {
        type: "relay",
        from: { address: jane.address, device: jane.device },
        session: `s${i % 3}`,
        data: f.toString("base64url"),
      });
    }
    // The pong comes only once every frame sent before the ping was delivered.
    assert.deepEqual(await sender.next(), { type: "pong" });
    // And back: b.test forwards to a.test.
    target.send({
      type: "relay",
      to: { address: jane.address, device: jane.device },
      session: "s9",
      data: "",
    });
    assert.deepEqual(await sender.next(), {
      type: "relay",
      from: { address: joe.address, device: joe.device },
      session: "s9",
      data: "",
    });
    await sender.quiet();
    await target.quiet();
  });

  it("answers PEOPLE_UNAVAILABLE for a device that is not connected on the other server", async () => {
    const sender = await open(a, jane.token);
    await open(b, joe.token);
    sender.send({
      type: "relay",
      to: { address: joe2.address, device: joe2.device },
      session: "gone",
      data: "AQID",
    });
    sender.send({ type: "ping" });
    const err = await sender.next();
    assert.equal(err.type, "error");
    assert.equal(err.errcode, "PEOPLE_UNAVAILABLE");
    assert.equal(err.session, "gone");
    assert.deepEqual(await sender.next(), { type: "pong" }, "the pong comes after the refusal");
    const direct = await post(request({ to: { address: joe2.address, device: joe2.device } }));
    assert.equal(direct.status, 404);
    assert.equal(direct.json.errcode, "PEOPLE_UNAVAILABLE");
  });

  it("answers PEOPLE_UNAVAILABLE when the other server cannot be reached", async () => {
    const closed = await freePort();
    const lone = await startTestServer("c.test", {
      config: { discovery: { pins: { "b.test": `127.0.0.1:${closed}` } } },
    });
    try {
      const kim = await registerAccount(lone, "kim");
      const sender = await open(lone, await login(lone, kim.devices[0]!));
      sender.send({
        type: "relay",
        to: { address: joe.address, device: joe.device },
        session: "x",
        data: "AQID",
      });
      const err = await sender.next();
      assert.equal(err.errcode, "PEOPLE_UNAVAILABLE");
      assert.equal(err.session, "x");
    } finally {
      await lone.stop();
    }
  });

  it("waits on first contact while the other server fetches this one's key slowly (as through Tor)", async function () {
    this.timeout(2 * FIRST_CONTACT_TIMEOUT_MS);
    // e.test reaches d.test's descriptor through a front that holds each connection past twice
    // the timeout for a server that has d.test's key (an idle timer can start over once a connection
    // is made): as a fresh Tor circuit on a busy machine would.
    const slowFront = await SwitchProxy.start();
    slowFront.holdMs = 2 * RELAY_TIMEOUT_MS + 1_000;
    const [d, e] = (await startLinkedServers(["d.test", "e.test"], {
      pins: { "d.test": `127.0.0.1:${slowFront.port}` },
    })) as [TestServer, TestServer];
    try {
      slowFront.target = d.handle.port;
      const kim = await registerAccount(d, "kim");
      const lou = await registerAccount(e, "lou");
      const sender = await open(d, await login(d, kim.devices[0]!));
      const target = await open(e, await login(e, lou.devices[0]!));
      const to = { address: lou.address, device: lou.devices[0]!.device };
      sender.send({ type: "relay", to, session: "first", data: "AQID" });
      sender.send({ type: "ping" });
      const delivered = await target.next(FIRST_CONTACT_TIMEOUT_MS);
      assert.equal(delivered.session, "first");
      assert.equal(delivered.data, "AQID");
      assert.deepEqual(await sender.next(FIRST_CONTACT_TIMEOUT_MS), { type: "pong" }, "no refusal before it");
      assert(slowFront.accepted > 0, "e.test fetched d.test's key through the slow front");
      // Now e.test has d.test's key: the next frame goes at once.
      sender.send({ type: "relay", to, session: "second", data: "" });
      assert.equal((await target.next()).session, "second");
    } finally {
      await slowFront.stop();
      await d.stop();
      await e.stop();
    }
  });

  it("refuses forged, misaddressed and stale requests and delivers nothing", async () => {
    const target = await open(b, joe.token);
    const ok = await post(request({ session: "good" }));
    assert.deepEqual([ok.status, ok.json], [200, { delivered: true }]);
    assert.equal((await target.next()).session, "good");

    const forged = request({ session: "forged" }, Ed25519KeyPair.generate());
    const cases: [string, { body: Buffer; signature?: string }, number, string][] = [
      ["forged signature", forged, 400, "PEOPLE_BAD_SIGNATURE"],
      ["no signature", { body: forged.body }, 400, "PEOPLE_BAD_SIGNATURE"],
      [
        "body changed after signing",
        {
          body: Buffer.from(request({}).body.toString().replace("AQID", "AQIE")),
          signature: request({}).signature,
        },
        400,
        "PEOPLE_BAD_SIGNATURE",
      ],
      // a.test's key, but claiming to be another server (whose key is not a.test's)
      ["wrong origin", request({ origin: "b.test" }), 403, "PEOPLE_FORBIDDEN"],
      [
        "from another domain",
        request({ from: { address: "mallory@c.test", device: jane.device } }),
        403,
        "PEOPLE_FORBIDDEN",
      ],
      [
        "to another domain",
        request({ to: { address: "jane@a.test", device: jane.device } }),
        400,
        "PEOPLE_WRONG_RECIPIENT",
      ],
      ["stale", request({ ts: Date.now() - 6 * 60_000 }), 400, "PEOPLE_EXPIRED"],
      ["from the future", request({ ts: Date.now() + 6 * 60_000 }), 400, "PEOPLE_NOT_YET_VALID"],
      ["session too long", request({ session: "s".repeat(65) }), 400, "PEOPLE_BAD_JSON"],
      [
        "data too large",
        request({ data: randomBytes(64 * 1024 + 1).toString("base64url") }),
        400,
        "PEOPLE_BAD_JSON",
      ],
    ];
    for (const [what, r, status, errcode] of cases) {
      const res = await post(r);
      assert.equal(res.json.errcode, errcode, what);
      assert.equal(res.status, status, what);
    }
    // An origin claiming another server's domain with a valid signature of its own does not get through either.
    const impostor = request(
      { origin: "c.test", from: { address: "kim@c.test", device: jane.device } },
      a.handle.keys.identity.identityKey,
    );
    const res = await post(impostor);
    assert.notEqual(res.status, 200);
    await target.quiet();
  });
});
