// A free TCP port on loopback for a server a test starts in another process.
// The port is chosen below Linux's ephemeral range (32768-60999 by default):
// a port the kernel hands out (listen on 0) can be taken by any outgoing
// connection of any process between this check and the server's bind, or
// while a server with a fixed port restarts; a busy machine makes that race
// likely. A port is handed out once per process, and is free when handed out.
import { createServer } from "node:net";

const LOW = 12_000;
const HIGH = 32_000;
const ATTEMPTS = 500;
const given = new Set<number>();

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let i = 0; i < ATTEMPTS; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (given.has(port)) continue;
    given.add(port);
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port between ${LOW} and ${HIGH} after ${ATTEMPTS} tries`);
}
