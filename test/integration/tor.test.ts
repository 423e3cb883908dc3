// People over Tor, on the private Tor network the harness starts on loopback
// (test/helpers/tor-network.ts, ~40 s once per run): Jane's server is
// onion-only (published through tor's control port with the key in its data
// dir), Joe's is a clearnet server on loopback. Both devices and Joe's server
// reach the onion through the SOCKS5 proxy. Jane's device has its own source
// address (127.0.0.5; the Tor nodes are on 127.0.0.1) so the test can tell
// what Joe's server saw with "all traffic through Tor" off and on. Jane's
// server relays realtime frames to Joe's on loopback; Joe's server relays to the
// onion through Tor. A second part: a clearnet server that is also an onion
// names it, and clients with a proxy use it.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, connect, type Server } from "node:net";
import { join } from "node:path";
import { PeopleClient, type ClientOptions } from "../../src/people/client/people-client.js";
import type { RtSession } from "../../src/people/client/realtime.js";
import { isPeopleError } from "../../src/people/errors.js";
import { HttpsClient } from "../../src/people/net/https-client.js";
import { resolveServer, type SrvRecord } from "../../src/people/net/discovery.js";
import { parseAddress } from "../../src/people/protocol/address.js";
import { onionKey } from "../../src/people/server/onion.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import {
  PASSPHRASE,
  Recorder,
  clientOptions,
  removeTempDirs,
  tempDir,
  waitUntil,
} from "../helpers/client-fixtures.js";
import { torNetwork, type TorNetwork } from "../helpers/tor-network.js";
import { ROOT, runProgram } from "../helpers/run-program.js";

const JANE_SOURCE = "127.0.0.5";
/** Tor is slow on a loaded 2-core machine: these are safety nets, not timings. */
const OVER_TOR = 180_000;
/** The private Tor network takes ~40 s alone, minutes on a loaded machine. */
const NETWORK_UP = 600_000;

/**
 * A TCP forwarder in front of a server that records the peer address of every connection it
 * accepts (`peers`) and of every chunk of bytes it receives (`traffic`: a kept-alive connection counts too).
 */
async function recordingFront(
  targetPort: number,
): Promise<{ port: number; peers: string[]; traffic: string[]; server: Server }> {
  const peers: string[] = [];
  const traffic: string[] = [];
  const server = createServer((inbound) => {
    peers.push(inbound.remoteAddress ?? "?");
    inbound.on("data", () => traffic.push(inbound.remoteAddress ?? "?"));
    const outbound = connect({ host: "127.0.0.1", port: targetPort });
    inbound.pipe(outbound).pipe(inbound);
    inbound.on("error", () => outbound.destroy());
    outbound.on("error", () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert(address && typeof address === "object");
  return { port: address.port, peers, traffic, server };
}

/** Frames each way on an open session; both sides get exactly them, in order. */
async function exchangeFrames(caller: RtSession, callee: RtSession, label: string, n = 5): Promise<void> {
  const atCallee: string[] = [];
  const atCaller: string[] = [];
  callee.on("data", (d) => atCallee.push(d.toString("utf8")));
  caller.on("data", (d) => atCaller.push(d.toString("utf8")));
  const there = Array.from({ length: n }, (_, i) => `${label} →${i}`);
  const back = Array.from({ length: n }, (_, i) => `${label} ←${i}`);
  for (const t of there) await caller.send(Buffer.from(t));
  for (const t of back) await callee.send(Buffer.from(t));
  await waitUntil(() => atCallee.length >= n && atCaller.length >= n, `${label}: every frame`, OVER_TOR);
  assert.deepEqual(atCallee, there);
  assert.deepEqual(atCaller, back);
}

describe("People over Tor: an onion-only server and a clearnet one", function () {
  this.timeout(OVER_TOR);
  let net: TorNetwork;
  let jane: TestServer;
  let joe: TestServer;
  let front: Awaited<ReturnType<typeof recordingFront>>;
  let onion: string;
  const clients: PeopleClient[] = [];
  let janeRec: Recorder;
  let joeRec: Recorder;
  let JANE: string;
  let janeDeviceDir: string;
  let janeDir: string;
  const JOE = "joe@joe.test";

  const options = (dir: string, extra: Partial<ClientOptions> = {}): ClientOptions => ({
    ...clientOptions({ pins: { "joe.test": `127.0.0.1:${front.port}` }, ca: [joe.handle.certificate] }, dir),
    tor: { socks: net.socks },
    backoff: { baseMs: 500, maxMs: 4000 },
    ...extra,
  });

  before(async function () {
    this.timeout(NETWORK_UP);
    net = await torNetwork();
    joe = await startTestServer("joe.test", { config: { tor: { socks: net.socks } } });
    front = await recordingFront(joe.handle.port);
    janeDir = tempDir("jane-onion-server");
    onion = onionKey(janeDir).address;
    JANE = `jane@${onion}`;
    jane = await startJane();
    await net.waitForDescriptor(onion);
  });

  /** Jane's onion-only server: published through tor's control port; it relays to joe.test on loopback. */
  const startJane = () =>
    startTestServer(onion, {
      dataDir: janeDir,
      config: {
        onion: { control_port: net.controlPort },
        tor: { socks: net.socks },
        discovery: {
          pins: { "joe.test": `127.0.0.1:${joe.handle.port}` },
          ca_files: [join(joe.dataDir, "tls", "dev-cert.pem")],
        },
      },
    });

  after(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    front?.server.close();
    await jane?.stop();
    await joe?.stop();
    removeTempDirs();
  });

  it("takes a v3 onion as the domain of an address and finds its server on the onion's port 443", async () => {
    assert.equal(parseAddress(JANE), JANE);
    const http = new HttpsClient({ tor: { socks: net.socks } });
    try {
      assert.equal(await resolveServer(onion, { http }), `https://${onion}:443`);
    } finally {
      http.close();
    }
  });

  it("says clearly that an onion service is not reachable, with or without a proxy", async () => {
    const nowhere = `${onionKey(tempDir("nowhere")).address}`;
    const direct = new HttpsClient();
    const viaTor = new HttpsClient({ tor: { socks: net.socks } });
    try {
      await assert.rejects(direct.send("GET", `https://${nowhere}/`), (e: unknown) => {
        assert(isPeopleError(e, "PEOPLE_UNAVAILABLE"));
        assert.match(e.message, /the onion service .* is not reachable: no Tor SOCKS proxy is configured/);
        return true;
      });
      await assert.rejects(viaTor.send("GET", `https://${nowhere}/_people/v1/server`), (e: unknown) => {
        assert(isPeopleError(e, "PEOPLE_UNAVAILABLE"));
        assert.match(e.message, new RegExp(`the onion service ${nowhere} is not reachable`));
        return true;
      });
    } finally {
      direct.close();
      viaTor.close();
    }
  });

  it("exchanges mail and attachments both ways between the onion and the clearnet server", async () => {
    janeDeviceDir = tempDir("jane");
    const janeClient = await PeopleClient.create({
      ...options(janeDeviceDir, { localAddress: JANE_SOURCE }),
      address: JANE,
    });
    clients.push(janeClient);
    const joeClient = await PeopleClient.create({ ...options(tempDir("joe")), address: JOE });
    clients.push(joeClient);
    janeRec = new Recorder(janeClient);
    joeRec = new Recorder(joeClient);
    await janeClient.start();
    await joeClient.start();

    await janeClient.sendText([JOE], "hello from the onion");
    await waitUntil(() => joeRec.texts().includes("hello from the onion"), "Joe gets Jane's mail", OVER_TOR);
    await joeClient.sendText([JANE], "hello from the clearnet");
    await waitUntil(
      () => janeRec.texts().includes("hello from the clearnet"),
      "Jane gets Joe's mail",
      OVER_TOR,
    );

    for (const [from, rec, to] of [
      [janeClient, joeRec, JOE],
      [joeClient, janeRec, JANE],
    ] as const) {
      const bytes = randomBytes(200 * 1024);
      const digest = createHash("sha256").update(bytes).digest("hex");
      await from.sendAttachment([to], bytes, { mime: "application/octet-stream", name: "over-tor.bin" });
      await waitUntil(
        () =>
          rec.messages.some((m) => m.content.type === "attachment" && m.content.blob.size === bytes.length),
        "the attachment",
        OVER_TOR,
      );
      const m = rec.messages.find((x) => x.content.type === "attachment")!;
      assert(m.content.type === "attachment");
      const got = await rec.client.downloadAttachment(m.content.blob);
      assert.equal(createHash("sha256").update(got).digest("hex"), digest);
      rec.messages.splice(rec.messages.indexOf(m), 1);
    }
    // Without "all traffic through Tor", Jane's device went to Joe's clearnet server itself.
    assert(
      front.peers.includes(JANE_SOURCE),
      `Joe's server saw ${JSON.stringify([...new Set(front.peers)])}`,
    );
  });

  it("with \"all traffic through Tor\", Joe's server never sees Jane's device's address, and mail still arrives", async () => {
    await clients[0]!.close();
    const janeClient = await PeopleClient.open(
      options(janeDeviceDir, { localAddress: JANE_SOURCE, tor: { socks: net.socks, all: true } }),
    );
    clients[0] = janeClient;
    janeRec.attach(janeClient);
    await janeClient.start();
    front.peers.splice(0);
    await janeClient.sendText([JOE], "hello through Tor only");
    await waitUntil(() => joeRec.texts().includes("hello through Tor only"), "Joe gets the mail", OVER_TOR);
    assert(front.peers.length > 0, "Joe's server was reached");
    assert(
      !front.peers.includes(JANE_SOURCE),
      `Joe's server saw ${JSON.stringify([...new Set(front.peers)])}`,
    );
  });

  it("runs realtime data sessions through both servers' relay, both ways, over Tor", async () => {
    const [janeClient, joeClient] = clients as [PeopleClient, PeopleClient];
    for (const [caller, callee, label] of [
      [janeClient, joeClient, "jane calls"],
      [joeClient, janeClient, "joe calls"],
    ] as const) {
      const ringing = callee.realtime.events.once("offer");
      const session = await caller.realtime.call(callee.address);
      const transports: string[] = [];
      session.on("transport", (t) => transports.push(t.transport));
      const offer = await ringing;
      assert.equal(offer.from, caller.address);
      const answered = await callee.realtime.accept(offer.session);
      await Promise.all([session.whenOpen(), answered.whenOpen()]);
      await exchangeFrames(session, answered, label);
      assert.equal(session.transport, "relay", label);
      assert.equal(answered.transport, "relay", label);
      assert.deepEqual(transports, ["relay"], `${label}: no fallback to envelopes`);
      assert.equal(session.stats.rejected + answered.stats.rejected, 0);
      const ended = answered.events.once("close");
      await session.hangup("normal");
      assert.deepEqual(await ended, { reason: "normal", remote: true });
    }
  });

  it("the CLI sends to an onion address with --socks (and --tor-all), and says why without it", async () => {
    const dir = tempDir("cli-tor");
    const pem = join(dir, "joe.pem");
    writeFileSync(pem, joe.handle.certificate);
    const people = (args: string[]) =>
      runProgram(
        join(ROOT, "bin", "people"),
        ["--data", join(dir, "data"), "--pin", `joe.test=127.0.0.1:${joe.handle.port}`, "--ca", pem, ...args],
        { env: { PEOPLE_PASSPHRASE: PASSPHRASE }, timeoutMs: OVER_TOR },
      );
    const init = await people(["init", "cli@joe.test"]);
    assert.equal(init.code, 0, init.stderr);
    const unproxied = await people(["send", JANE, "no proxy"]);
    assert.notEqual(unproxied.code, 0);
    assert.match(unproxied.stderr, /onion service .* is not reachable/);
    const usage = await people(["--tor-all", "send", JANE, "no proxy"]);
    assert.notEqual(usage.code, 0);
    assert.match(usage.stderr, /--tor-all.*needs --socks/);
    const sent = await people(["--socks", net.socks, "--tor-all", "send", JANE, "from the CLI over Tor"]);
    assert.equal(sent.code, 0, sent.stderr);
    await waitUntil(
      () => janeRec.texts().includes("from the CLI over Tor"),
      "Jane gets the CLI's mail",
      OVER_TOR,
    );
    // Remembered for this data directory, like --pin and --ca.
    const again = await people(["send", JANE, "with the remembered proxy"]);
    assert.equal(again.code, 0, again.stderr);
    await waitUntil(
      () => janeRec.texts().includes("with the remembered proxy"),
      "Jane gets the second CLI mail",
      OVER_TOR,
    );
  });

  it("keeps mail for an onion that is down, and delivers it once the server is back at the same address", async () => {
    await jane.stop(); // its control connection closes: tor withdraws the onion
    await clients[1]!.sendText([JANE], "while the onion was down");
    await waitUntil(
      async () => (await clients[1]!.outboxSize()) > 0,
      "the mail waiting in Joe's outbox",
      OVER_TOR,
    );
    jane = await startJane();
    await net.waitForDescriptor(onion);
    await waitUntil(() => janeRec.texts().includes("while the onion was down"), "Jane gets it", OVER_TOR);
  });
});

describe("A clearnet server that is also an onion service", function () {
  this.timeout(OVER_TOR);
  const DAVE_SOURCE = "127.0.0.6";
  const EVE_SOURCE = "127.0.0.7";
  let net: TorNetwork;
  let carol: TestServer;
  let home: TestServer;
  let front: Awaited<ReturnType<typeof recordingFront>>;
  let carolOnion: string;
  let carolRec: Recorder;
  const clients: PeopleClient[] = [];

  /** A device on home.test that finds carol.test as a stranger would: by SRV (here: the recording front). */
  const stranger = async (address: string, extra: Partial<ClientOptions>): Promise<PeopleClient> => {
    const srv = async (name: string): Promise<SrvRecord[]> => {
      if (name !== "_people._tcp.carol.test") throw new Error(`no SRV record for ${name}`);
      return [{ name: "127.0.0.1", port: front.port, priority: 0, weight: 0 }];
    };
    const client = await PeopleClient.create({
      ...clientOptions(
        {
          pins: { "home.test": `127.0.0.1:${home.handle.port}` },
          ca: [home.handle.certificate, carol.handle.certificate],
        },
        tempDir(address.split("@")[0]!),
      ),
      srv,
      backoff: { baseMs: 500, maxMs: 4000 },
      address,
      ...extra,
    });
    clients.push(client);
    await client.start();
    return client;
  };

  before(async function () {
    this.timeout(NETWORK_UP);
    net = await torNetwork();
    carol = await startTestServer("carol.test", { config: { onion: { control_port: net.controlPort } } });
    carolOnion = onionKey(carol.dataDir).address;
    home = await startTestServer("home.test");
    front = await recordingFront(carol.handle.port);
    const carolClient = await PeopleClient.create({
      ...clientOptions(
        {
          pins: {
            "carol.test": `127.0.0.1:${carol.handle.port}`,
            "home.test": `127.0.0.1:${home.handle.port}`,
          },
          ca: [carol.handle.certificate, home.handle.certificate],
        },
        tempDir("carol"),
      ),
      address: "carol@carol.test",
    });
    clients.push(carolClient);
    carolRec = new Recorder(carolClient);
    await carolClient.start();
    await net.waitForDescriptor(carolOnion);
  });

  after(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
    front?.server.close();
    await carol?.stop();
    await home?.stop();
    removeTempDirs();
  });

  it("names its onion address in its .well-known and its descriptor", async () => {
    const wellKnown = await carol.http.json<{ server: string; onion?: string }>(
      "GET",
      `${carol.url}/.well-known/people`,
    );
    assert.match(wellKnown.server, /^carol\.test:\d+$/, "its clearnet address stays the server");
    assert.equal(wellKnown.onion, `${carolOnion}:443`);
    const descriptor = await carol.http.json<{ domain: string; onion?: string }>(
      "GET",
      `${carol.url}/_people/v1/server`,
    );
    assert.equal(descriptor.domain, "carol.test");
    assert.equal(descriptor.onion, `${carolOnion}:443`);
  });

  it("a client with a Tor proxy moves to the onion once it read the descriptor; one without stays on the clearnet", async () => {
    const dave = await stranger("dave@home.test", { tor: { socks: net.socks }, localAddress: DAVE_SOURCE });
    await dave.sendText(["carol@carol.test"], "first from Dave");
    await waitUntil(() => carolRec.texts().includes("first from Dave"), "Carol gets Dave's mail", OVER_TOR);
    // Dave found carol.test on the clearnet (SRV) and read its descriptor there.
    assert(
      front.traffic.includes(DAVE_SOURCE),
      `the front saw ${JSON.stringify([...new Set(front.traffic)])}`,
    );

    front.traffic.splice(0);
    await dave.sendText(["carol@carol.test"], "second from Dave");
    await waitUntil(() => carolRec.texts().includes("second from Dave"), "Carol gets it", OVER_TOR);
    assert(
      !front.traffic.includes(DAVE_SOURCE),
      `Dave's device still used the clearnet route: ${JSON.stringify([...new Set(front.traffic)])}`,
    );

    // The same steps without a proxy go to the clearnet address every time (so the test can tell).
    const eve = await stranger("eve@home.test", { localAddress: EVE_SOURCE });
    await eve.sendText(["carol@carol.test"], "first from Eve");
    await waitUntil(() => carolRec.texts().includes("first from Eve"), "Carol gets Eve's mail", OVER_TOR);
    front.traffic.splice(0);
    await eve.sendText(["carol@carol.test"], "second from Eve");
    await waitUntil(() => carolRec.texts().includes("second from Eve"), "Carol gets it", OVER_TOR);
    assert(
      front.traffic.includes(EVE_SOURCE),
      `the front saw ${JSON.stringify([...new Set(front.traffic)])}`,
    );
  });
});
