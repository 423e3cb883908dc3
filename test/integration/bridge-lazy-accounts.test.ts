// Lazy bridge accounts (issue 17) on a real embedded-style People server, real
// SQLite stores and the in-process live link: an account closed for being idle
// is woken by mail the server stores for it and takes it exactly once; mail
// that came while the bridge was down opens its account at the next start; an
// account is not opened at a start without a reason; and a bridge process
// SIGKILLed while mail wakes an account loses nothing and writes nothing twice.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BridgeSecret } from "../../src/bridge/adapters/accounts/bridge-secret.js";
import { PeopleAccounts } from "../../src/bridge/adapters/accounts/people-accounts.js";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import type { BridgeStore } from "../../src/bridge/core/ports/store.js";
import type { IncomingMessage } from "../../src/bridge/core/ports/people-side.js";
import { PeopleClient } from "../../src/people/client/people-client.js";
import type { PeopleAddress } from "../../src/people/protocol/address.js";
import { inProcessTransport } from "../../src/people/client/live-transport.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { clientOptions, networkOf, removeTempDirs, tempDir, waitUntil } from "../helpers/client-fixtures.js";
import { silentLog } from "../helpers/portal-fakes.js";
import { freePort } from "../helpers/ports.js";

const WAIT = 120_000;
const ROOT = join(__dirname, "..", "..");
const ALICE = "@alice:hs.test";
const BOB = "@bob:hs.test";

describe("bridge lazy accounts", function () {
  this.timeout(300_000);
  let dir: string;
  let server: TestServer;
  let store: BridgeStore;
  let joe: PeopleClient;
  let clock = Date.now();
  let accounts: PeopleAccounts | undefined;
  /** Every message a bridge account was handed: user and People message id. */
  const taken: { user: string; id: string; body: string }[] = [];

  function bridgeAccounts(): PeopleAccounts {
    const a = new PeopleAccounts({
      dataDir: join(dir, "bridge"),
      peopleDomain: "people.test",
      homeserverDomain: "hs.test",
      secret: BridgeSecret.load(join(dir, "bridge")),
      network: { pins: {}, ca: [], ...networkOf([server]) },
      store: store.peopleAccounts,
      log: silentLog,
      liveTransport: inProcessTransport(server.handle.live),
      client: { reconnect: { baseMs: 100, maxMs: 800 }, backoff: { baseMs: 100, maxMs: 800 } },
      beforeAck: () => store.sync(),
      lazy: { mail: server.handle.mail, idle_close_seconds: 60, max_open: 100 },
      now: () => clock,
    });
    a.onMessage(async (account, m: IncomingMessage) => {
      taken.push({
        user: account.owner,
        id: m.id,
        body: m.content.type === "text" ? m.content.body : m.content.type,
      });
    });
    return a;
  }

  const pendingFor = async (address: string) => (await server.handle.mail.waiting()).includes(address);
  const takenBody = (body: string) => taken.filter((t) => t.body === body);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "bridge-lazy-"));
    server = await startTestServer("people.test");
    store = await openBridgeStore({ engine: "sqlite", connection: join(dir, "bridge.db") });
    joe = await PeopleClient.create({
      ...clientOptions(networkOf([server]), tempDir("joe")),
      address: "joe@people.test",
    });
    await joe.start();
    accounts = bridgeAccounts();
    // Two users' accounts made (as a first Matrix message would), then the bridge starts.
    await accounts.accountFor(ALICE);
    await accounts.accountFor(BOB);
    await accounts.startAll(4);
  });

  after(async () => {
    await accounts?.close();
    await joe?.close();
    await store?.close();
    await server?.stop();
    removeTempDirs();
    rmSync(dir, { recursive: true, force: true });
  });

  it("closes an idle account, and mail for it wakes it: taken once, acknowledged", async () => {
    const a = accounts!;
    assert.ok(a.clientOf(ALICE), "alice's account is open after its first use");
    clock += 61_000;
    await waitUntil(
      async () => (await a.lazy!.sweep()) >= 0 && a.clientOf(ALICE) === undefined,
      "closed",
      WAIT,
    );
    assert.equal(a.clientOf(BOB), undefined, "bob's idle account closed as well");
    assert.equal(a.reachable(ALICE), true, "a closed lazy account still counts as reachable");

    await joe.sendText(["alice@people.test"], "wake up");
    await waitUntil(() => takenBody("wake up").length > 0, "the message taken by the woken account", WAIT);
    assert.ok(a.clientOf(ALICE), "the mail opened alice's account");
    assert.equal(a.clientOf(BOB), undefined, "bob's stays closed: the mail was not his");
    await waitUntil(async () => !(await pendingFor("alice@people.test")), "the mail acknowledged", WAIT);
    assert.equal(takenBody("wake up").length, 1);
    assert.equal(takenBody("wake up")[0]!.user, ALICE);
  });

  it("mail that came while the bridge was down opens only its account at the next start, once", async () => {
    await accounts!.close();
    accounts = undefined;
    await joe.sendText(["bob@people.test"], "while you were out");
    await waitUntil(() => pendingFor("bob@people.test"), "the mail waiting on the server", WAIT);

    accounts = bridgeAccounts();
    await accounts.startAll(4);
    assert.equal(accounts.clientOf(ALICE), undefined, "alice had no mail: her account stays a row");
    await waitUntil(() => takenBody("while you were out").length > 0, "bob's mail taken", WAIT);
    await waitUntil(async () => !(await pendingFor("bob@people.test")), "bob's mail acknowledged", WAIT);
    // Closed and opened again: nothing comes a second time.
    clock += 61_000;
    await waitUntil(
      async () => (await accounts!.lazy!.sweep()) >= 0 && !accounts!.clientOf(BOB),
      "closed",
      WAIT,
    );
    await accounts.accountFor(BOB);
    await waitUntil(() => accounts!.clientOf(BOB)?.connected === true, "bob connected again", WAIT);
    await joe.sendText(["bob@people.test"], "marker");
    await waitUntil(() => takenBody("marker").length > 0, "the marker after it", WAIT);
    assert.equal(takenBody("while you were out").length, 1);
    assert.equal(takenBody("wake up").length, 1);
  });

  it("an account is not closed while an operation holds it", async () => {
    const a = accounts!;
    const bob = await a.accountFor(BOB);
    clock += 61_000;
    // Idle long enough, but a lookup is under way on it: the sweep leaves it open.
    const lookup = bob.lookup("joe@people.test" as PeopleAddress);
    assert.equal(await a.lazy!.sweep(), a.clientOf(ALICE) ? 1 : 0, "only alice's idle account closed");
    assert.deepEqual(await lookup, { status: "exists" });
    assert.ok(a.clientOf(BOB), "bob's account stayed open through the lookup");
  });

  it("key maintenance opens the accounts not looked after for a day, and records it", async () => {
    const a = accounts!;
    clock += 61_000;
    await a.lazy!.sweep();
    const due = await store.peopleAccounts.dueForMaintenance(clock + 21 * 3600_000, 10);
    assert.deepEqual(due.sort(), [ALICE, BOB].sort());
    clock += 21 * 3600_000;
    assert.equal(await a.lazy!.maintainDue(), 2);
    await waitUntil(
      async () => (await store.peopleAccounts.dueForMaintenance(clock - 60_000, 10)).length === 0,
      "both recorded as looked after",
      WAIT,
    );
  });

  it("a bridge SIGKILLed while mail wakes an account: after the restart each message is in Matrix once", async () => {
    const kdir = tempDir("lazy-kill");
    const port = await freePort();
    let child: ChildProcess | undefined;
    const run = async (mode: "setup" | "serve" | "drain") => {
      const c = spawn(
        process.execPath,
        ["--import", "tsx", join(ROOT, "test", "helpers", "lazy-bridge-child.ts"), kdir, String(port), mode],
        { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
      );
      child = c;
      const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()));
      const lines = createInterface({ input: c.stdout! })[Symbol.asyncIterator]();
      const next = async (): Promise<Record<string, unknown>> => {
        const r = await lines.next();
        if (r.done) throw new Error(`the child exited (${c.exitCode ?? c.signalCode}) without answering`);
        return JSON.parse(r.value as string) as Record<string, unknown>;
      };
      const { cert } = (await next()) as { cert: string };
      return { cert, next, exited, child: c };
    };
    try {
      const setup = await run("setup");
      await setup.exited;
      const serving = await run("serve");
      const sender = await PeopleClient.create({
        ...clientOptions(
          { pins: { "people.test": `127.0.0.1:${port}` }, ca: [serving.cert] },
          tempDir("sender"),
        ),
        address: "sam@people.test",
      });
      const bodies = ["k1", "k2", "k3", "k4", "k5"];
      try {
        for (const b of bodies) await sender.sendText(["alice@people.test"], b);
        // Each accepted (durable on the server) while alice's account was a row: the wake is under way.
        await sender.flush();
      } finally {
        serving.child.kill("SIGKILL");
        await serving.exited;
        await sender.close();
      }
      const drain = await run("drain");
      const { matrix } = (await drain.next()) as { matrix: string[] };
      await drain.exited;
      assert.deepEqual([...matrix].sort(), bodies, "every message once, none lost, none twice");
    } finally {
      if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });
});
