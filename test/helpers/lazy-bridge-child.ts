// A process like the bridge, for crash tests of lazy accounts: the embedded
// People server (people.test) and the bridge's PeopleAccounts (lazy, on a SQLite
// bridge store) in one process. Each message handed to the bridge is written to
// <dir>/matrix.jsonl, once per People message id (as the bridge's message map
// keeps a redelivered message out of Matrix), with an fsync: the stand-in for
// the Matrix write. Modes:
//   setup: makes @alice's account, stops cleanly (her account then opens only for a reason).
//   serve: starts and prints {"cert"} when listening; the parent SIGKILLs it at will.
//   drain: starts, waits until no mail waits for alice, prints {"matrix": [bodies]} and exits.
// Usage: node --import tsx lazy-bridge-child.ts <dir> <port> <mode>
import { appendFileSync, closeSync, existsSync, fsyncSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BridgeSecret } from "../../src/bridge/adapters/accounts/bridge-secret.js";
import { PeopleAccounts } from "../../src/bridge/adapters/accounts/people-accounts.js";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import { inProcessTransport } from "../../src/people/client/live-transport.js";
import { parseServerConfig } from "../../src/people/server/config.js";
import { startPeopleServer } from "../../src/people/server/people-server.js";
import { silentLog } from "./portal-fakes.js";

export const CHILD_ALICE = "@alice:hs.test";

async function main(): Promise<void> {
  const [dir, port, mode] = process.argv.slice(2) as [string, string, "setup" | "serve" | "drain"];
  const server = await startPeopleServer(
    parseServerConfig({
      domain: "people.test",
      listen: { host: "127.0.0.1", port: Number(port) },
      data_dir: join(dir, "server"),
      database: { engine: "sqlite", connection: "people.db" },
      registration: { mode: "open" },
      log: { level: "silent" },
    }),
  );
  const store = await openBridgeStore({ engine: "sqlite", connection: join(dir, "bridge.db") });
  const accounts = new PeopleAccounts({
    dataDir: join(dir, "bridge"),
    peopleDomain: "people.test",
    homeserverDomain: "hs.test",
    secret: BridgeSecret.load(join(dir, "bridge")),
    network: { pins: { "people.test": `127.0.0.1:${server.port}` }, ca: [server.certificate] },
    store: store.peopleAccounts,
    log: silentLog,
    liveTransport: inProcessTransport(server.live),
    client: { reconnect: { baseMs: 100, maxMs: 800 }, backoff: { baseMs: 100, maxMs: 800 } },
    beforeAck: () => store.sync(),
    lazy: { mail: server.mail, idle_close_seconds: 600, max_open: 100 },
  });
  const file = join(dir, "matrix.jsonl");
  const written = () =>
    existsSync(file)
      ? readFileSync(file, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { id: string; body: string })
      : [];
  accounts.onMessage(async (_account, m) => {
    if (written().some((w) => w.id === m.id)) return;
    appendFileSync(
      file,
      `${JSON.stringify({ id: m.id, body: m.content.type === "text" ? m.content.body : "" })}\n`,
    );
    const fd = openSync(file, "r");
    fsyncSync(fd);
    closeSync(fd);
  });
  if (mode === "setup") {
    await accounts.accountFor(CHILD_ALICE);
    await accounts.close();
    await store.close();
    await server.stop();
    process.stdout.write(`${JSON.stringify({ cert: server.certificate })}\n`);
    return;
  }
  await accounts.startAll(4);
  process.stdout.write(`${JSON.stringify({ cert: server.certificate })}\n`);
  if (mode !== "drain") return;
  const address = accounts.addressFor(CHILD_ALICE);
  while ((await server.mail.waiting()).includes(address)) await new Promise((r) => setTimeout(r, 50));
  process.stdout.write(`${JSON.stringify({ matrix: written().map((w) => w.body) })}\n`);
  await accounts.close();
  await store.close();
  await server.stop();
}

main().catch((err: unknown) => {
  process.stderr.write(`lazy-bridge-child: ${String(err)}\n`);
  process.exit(1);
});
