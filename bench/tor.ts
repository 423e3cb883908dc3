// `npm run bench tor`: mail over Tor against the same exchange on loopback, in the same run.
// Jane's server is an onion (published on the private Tor network of the test harness) or a plain
// loopback server; Joe's is a loopback server. Figures: the first delivery (discovery, key fetches,
// circuits) and the median of one-at-a-time messages after it, Joe → Jane (over Tor: Joe's device
// posts to the onion, Jane's device receives on its live socket through Tor), each waited for.
import { onionKey } from "../src/people/server/onion.js";
import { PeopleClient } from "../src/people/client/people-client.js";
import { startTestServer, type TestServer } from "../test/helpers/people-servers.js";
import {
  Recorder,
  clientOptions,
  removeTempDirs,
  tempDir,
  waitUntil,
} from "../test/helpers/client-fixtures.js";
import { stopTorNetwork, torNetwork } from "../test/helpers/tor-network.js";
import { fmt, table } from "./harness.js";

const MESSAGES = 20;
const LIMIT_MS = 180_000;

interface Figures {
  setup: string;
  firstMs: number;
  medianMs: number;
}

async function exchange(setup: string, jane: TestServer, joe: TestServer, socks?: string): Promise<Figures> {
  const JOE = `joe-${socks ? "tor" : "loopback"}@${joe.domain}`;
  const network = {
    pins: socks
      ? { [joe.domain]: `127.0.0.1:${joe.handle.port}` }
      : Object.fromEntries([jane, joe].map((s) => [s.domain, `127.0.0.1:${s.handle.port}`])),
    ca: [jane.handle.certificate, joe.handle.certificate],
  };
  const extra = socks ? { tor: { socks } } : {};
  const janeClient = await PeopleClient.create({
    ...clientOptions(network, tempDir(`bench-jane-${setup}`)),
    ...extra,
    address: `jane@${jane.domain}`,
  });
  const joeClient = await PeopleClient.create({
    ...clientOptions(network, tempDir(`bench-joe-${setup}`)),
    ...extra,
    address: JOE,
  });
  const janeRec = new Recorder(janeClient);
  await Promise.all([janeClient.start(), joeClient.start()]);
  try {
    const oneMessage = async (body: string): Promise<number> => {
      const start = performance.now();
      await joeClient.sendText([`jane@${jane.domain}`], body);
      await waitUntil(() => janeRec.texts().includes(body), `Jane to get "${body}"`, LIMIT_MS);
      return performance.now() - start;
    };
    const firstMs = await oneMessage("first");
    const times: number[] = [];
    for (let i = 0; i < MESSAGES; i++) times.push(await oneMessage(`message ${i}`));
    times.sort((a, b) => a - b);
    return { setup, firstMs, medianMs: times[Math.floor(times.length / 2)]! };
  } finally {
    await janeClient.close();
    await joeClient.close();
  }
}

export async function runTorBench(): Promise<void> {
  console.log("\n== Tor: mail between an onion server and a loopback server, against loopback only ==");
  const servers: TestServer[] = [];
  try {
    const joe = await startTestServer("joe.test");
    servers.push(joe);
    const plain = await startTestServer("jane.test");
    servers.push(plain);
    const loopback = await exchange("loopback", plain, joe);

    const net = await torNetwork();
    const dir = tempDir("bench-onion");
    const onion = onionKey(dir).address;
    const onionServer = await startTestServer(onion, {
      dataDir: dir,
      config: { onion: { control_port: net.controlPort }, tor: { socks: net.socks } },
    });
    servers.push(onionServer);
    await net.waitForDescriptor(onion);
    const tor = await exchange("tor (Jane on an onion)", onionServer, joe, net.socks);

    table(
      [loopback, tor].map((f) => ({
        setup: f.setup,
        "first delivery ms": fmt(f.firstMs),
        [`median of ${MESSAGES} ms`]: fmt(f.medianMs),
        "median / loopback": fmt(f.medianMs / loopback.medianMs),
      })),
    );
  } finally {
    for (const s of servers) await s.stop();
    await stopTorNetwork();
    removeTempDirs();
  }
}
