// People over Tor, on the private Tor network the harness starts on loopback
// (test/helpers/tor-network.ts, ~40 s once per run): Jane's server is
// onion-only (published through tor's control port with the key in its data
// dir), Joe's is a clearnet server on loopback. Both devices and Joe's server
// reach the onion through the SOCKS5 proxy. Jane's device has its own source
// address (127.0.0.5; the Tor nodes are on 127.0.0.1) so the test can tell
// what Joe's server saw with "all traffic through Tor" off and on.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, connect, type Server } from "node:net";
import { join } from "node:path";
import { PeopleClient, type ClientOptions } from "../../src/people/client/people-client.js";
import { isPeopleError } from "../../src/people/errors.js";
import { HttpsClient } from "../../src/people/net/https-client.js";
import { resolveServer } from "../../src/people/net/discovery.js";
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

/** A TCP forwarder in front of Joe's server that records the peer address of every connection it accepts. */
async function recordingFront(
  targetPort: number,
): Promise<{ port: number; peers: string[]; server: Server }> {
  const peers: string[] = [];
  const server = createServer((inbound) => {
    peers.push(inbound.remoteAddress ?? "?");
    const outbound = connect({ host: "127.0.0.1", port: targetPort });
    inbound.pipe(outbound).pipe(inbound);
    inbound.on("error", () => outbound.destroy());
    outbound.on("error", () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  assert(address && typeof address === "object");
  return { port: address.port, peers, server };
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
  const JOE = "joe@joe.test";

  const options = (dir: string, extra: Partial<ClientOptions> = {}): ClientOptions => ({
    ...clientOptions({ pins: { "joe.test": `127.0.0.1:${front.port}` }, ca: [joe.handle.certificate] }, dir),
    tor: { socks: net.socks },
    backoff: { baseMs: 500, maxMs: 4000 },
    ...extra,
  });

  before(async function () {
    this.timeout(300_000);
    net = await torNetwork();
    const janeDir = tempDir("jane-onion-server");
    onion = onionKey(janeDir).address;
    JANE = `jane@${onion}`;
    jane = await startTestServer(onion, {
      dataDir: janeDir,
      config: { onion: { control_port: net.controlPort }, tor: { socks: net.socks } },
    });
    joe = await startTestServer("joe.test", { config: { tor: { socks: net.socks } } });
    front = await recordingFront(joe.handle.port);
    await net.waitForDescriptor(onion);
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
  });

  it("keeps mail for an onion that is down, and delivers it once the server is back at the same address", async () => {
    await jane.stop(); // its control connection closes: tor withdraws the onion
    const janeDir = jane.dataDir;
    await clients[1]!.sendText([JANE], "while the onion was down");
    await waitUntil(
      async () => (await clients[1]!.outboxSize()) > 0,
      "the mail waiting in Joe's outbox",
      OVER_TOR,
    );
    jane = await startTestServer(onion, {
      dataDir: janeDir,
      config: { onion: { control_port: net.controlPort }, tor: { socks: net.socks } },
    });
    await net.waitForDescriptor(onion);
    await waitUntil(() => janeRec.texts().includes("while the onion was down"), "Jane gets it", OVER_TOR);
  });
});
