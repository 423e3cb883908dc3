// A process like the bridge, for crash tests of the in-process live link: a
// People server (a.test) and, in the same process, the device `ann@a.test`
// taking its mail over the in-process link. Prints one JSON line once ann is
// connected ({"cert": <PEM>}); the parent SIGKILLs it at will. With "drain", it
// waits until caught up, prints ann's inbox ({"inbox": [texts]}) and exits.
// Usage: node --import tsx live-link-child.ts <data dir> <port> [drain]
import { join } from "node:path";
import { PeopleClient } from "../../src/people/client/people-client.js";
import { inProcessTransport } from "../../src/people/client/live-transport.js";
import { parseServerConfig } from "../../src/people/server/config.js";
import { startPeopleServer } from "../../src/people/server/people-server.js";
import { clientOptions } from "./client-fixtures.js";

async function main(): Promise<void> {
  const [dir, port, mode] = process.argv.slice(2);
  const server = await startPeopleServer(
    parseServerConfig({
      domain: "a.test",
      listen: { host: "127.0.0.1", port: Number(port) },
      data_dir: join(dir!, "server"),
      database: { engine: "sqlite", connection: "people.db" },
      registration: { mode: "open" },
      log: { level: "silent" },
    }),
  );
  const o = {
    ...clientOptions(
      { pins: { "a.test": `127.0.0.1:${server.port}` }, ca: [server.certificate] },
      join(dir!, "ann"),
    ),
    liveTransport: inProcessTransport(server.live),
  };
  const ann = await PeopleClient.open(o).catch(() => PeopleClient.create({ ...o, address: "ann@a.test" }));
  const caughtUp = new Promise<void>((resolve) => ann.on("caughtUp", () => resolve()));
  await ann.start();
  while (!ann.connected) await new Promise((r) => setTimeout(r, 20));
  process.stdout.write(`${JSON.stringify({ cert: server.certificate })}\n`);
  if (mode !== "drain") return;
  await caughtUp;
  const inbox = (await ann.inbox()).map((m) => (m.content.type === "text" ? m.content.body : ""));
  process.stdout.write(`${JSON.stringify({ inbox })}\n`);
  await ann.close();
  await server.stop();
}

main().catch((err: unknown) => {
  process.stderr.write(`live-link-child: ${String(err)}\n`);
  process.exit(1);
});
