// The in-process live link (client/live-transport.ts, net/in-process-wire.ts):
// a device in the same process as its server takes its mail without a socket,
// under the same rules as over a WebSocket: the same messages in the same
// order, acknowledged only after the durable write (a failing write means
// redelivery, nothing lost, nothing twice), and nothing lost when the process
// holding both is SIGKILLed mid-stream.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { PeopleClient, type ClientOptions } from "../../src/people/client/people-client.js";
import { inProcessTransport } from "../../src/people/client/live-transport.js";
import { newMessageId } from "../../src/people/protocol/ids.js";
import { poolSizes } from "../../src/people/net/tls-pool.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import {
  Recorder,
  clientOptions,
  networkOf,
  removeTempDirs,
  tempDir,
  waitUntil,
} from "../helpers/client-fixtures.js";
import { freePort } from "../helpers/ports.js";

const ROOT = join(__dirname, "..", "..");
const WAIT = 120_000;

describe("in-process live link", function () {
  this.timeout(300_000);
  let server: TestServer;
  let joe: PeopleClient;
  /** Contexts in the process-wide pool once joe runs (other test files may have left theirs). */
  let contextsWithJoe = 0;
  const open: PeopleClient[] = [];

  const options = (name: string): ClientOptions => clientOptions(networkOf([server]), tempDir(name));
  async function device(address: string, o: Partial<ClientOptions> = {}): Promise<PeopleClient> {
    const client = await PeopleClient.create({ ...options(address), ...o, address });
    open.push(client);
    return client;
  }
  async function pending(client: PeopleClient): Promise<number> {
    return (await server.handle.store.mailbox.pending(client.address, client.device, 0, 500)).length;
  }

  before(async () => {
    server = await startTestServer("a.test");
    joe = await device("joe@a.test");
    await joe.start();
    contextsWithJoe = poolSizes().contexts;
  });

  after(async () => {
    for (const c of open) await c.close().catch(() => undefined);
    await server?.stop();
    removeTempDirs();
  });

  it("brings the same messages in the same order as a WebSocket, with no socket and one shared TLS context", async () => {
    const ann = await device("ann@a.test", { liveTransport: inProcessTransport(server.handle.live) });
    const bob = await device("bob@a.test");
    const annSaw = new Recorder(ann);
    const bobSaw = new Recorder(bob);
    await ann.start();
    await bob.start();
    await waitUntil(() => ann.connected && bob.connected, "both connected", WAIT);
    // Every client here trusts the one test CA: ann and bob share joe's TLS context, none is added.
    assert.equal(poolSizes().contexts, contextsWithJoe);
    const texts = Array.from({ length: 40 }, (_, i) => `m${i}`);
    for (const t of texts) await joe.sendText([ann.address, bob.address], t);
    await joe.flush();
    await waitUntil(() => annSaw.messages.length >= 40 && bobSaw.messages.length >= 40, "40 each", WAIT);
    assert.deepEqual(annSaw.texts(), texts);
    assert.deepEqual(bobSaw.texts(), texts);
    // Acknowledged once handled: the mailbox empties.
    await waitUntil(async () => (await pending(ann)) === 0, "ann's mailbox empty", WAIT);
  });

  it("acknowledges only after the durable write: failed writes mean redelivery, each message once", async () => {
    let failures = 5;
    const attempts: number[] = [];
    const cat = await device("cat@a.test", {
      liveTransport: inProcessTransport(server.handle.live),
      beforeAck: async () => {
        attempts.push(Date.now());
        if (failures > 0) {
          failures--;
          throw new Error("disk full (test)");
        }
      },
    });
    const catSaw = new Recorder(cat);
    await cat.start();
    await waitUntil(() => cat.connected, "cat connected", WAIT);
    const texts = Array.from({ length: 20 }, (_, i) => `d${i}`);
    for (const t of texts) await joe.sendText([cat.address], t);
    await joe.flush();
    await waitUntil(async () => (await pending(cat)) === 0, "cat's mailbox empty", WAIT);
    assert.equal(failures, 0, "the failing writes were reached");
    assert.ok(attempts.length > texts.length, "failed acknowledgements were tried again");
    assert.deepEqual([...catSaw.texts()].sort(), [...texts].sort());
    assert.equal(new Set((await cat.inbox()).map((m) => m.id)).size, (await cat.inbox()).length);
  });

  it("loses nothing when the process holding server and device is SIGKILLed mid-stream", async () => {
    const dir = tempDir("kill");
    const port = await freePort();
    let child: ChildProcess | undefined;
    /** Starts the child; resolves with its JSON lines as they come, once the first (ready) came. */
    const startChild = async (mode?: "drain"): Promise<{ cert: string; next: () => Promise<unknown> }> => {
      const c = spawn(
        process.execPath,
        ["--import", "tsx", join(ROOT, "test", "helpers", "live-link-child.ts"), dir, String(port)].concat(
          mode ? [mode] : [],
        ),
        { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
      );
      child = c;
      const lines = createInterface({ input: c.stdout! })[Symbol.asyncIterator]();
      const next = async (): Promise<unknown> => {
        const r = await lines.next();
        if (r.done) throw new Error(`the child exited (${c.exitCode ?? c.signalCode}) without answering`);
        return JSON.parse(r.value as string);
      };
      const { cert } = (await next()) as { cert: string };
      return { cert, next };
    };
    const kill = async (): Promise<void> => {
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        c.once("exit", () => resolve());
        c.kill("SIGKILL");
      });
    };
    try {
      const { cert } = await startChild();
      const network = { pins: { "a.test": `127.0.0.1:${port}` }, ca: [cert] };
      const dan = await PeopleClient.create({
        ...clientOptions(network, tempDir("dan")),
        address: "dan@a.test",
      });
      open.push(dan);
      await dan.start();
      const texts = Array.from({ length: 60 }, (_, i) => `k${i}`);
      let kills = 0;
      for (const [i, t] of texts.entries()) {
        // Sealing asks the server for ann's devices: while it is down, try again with the same id.
        const messageId = newMessageId();
        for (;;) {
          try {
            await dan.sendText(["ann@a.test"], t, { messageId });
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        // Kill while ann is taking mail in (dan's outbox keeps delivering on its own).
        if (i % 12 === 6) {
          await kill();
          kills++;
          await startChild();
        }
      }
      await waitUntil(async () => (await dan.outboxSize()) === 0, "dan's outbox delivered", WAIT);
      await kill();
      const last = await startChild("drain");
      const { inbox } = (await last.next()) as { inbox: string[] };
      assert.equal(kills, 5);
      assert.equal(new Set(inbox).size, inbox.length, "no message twice");
      assert.deepEqual([...inbox].sort(), [...texts].sort(), "every message, once");
    } finally {
      await kill().catch(() => undefined);
    }
  });
});
