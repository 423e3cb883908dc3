// coturn from Debian (.ci/run installs it) as the reference TURN relay for the
// call tests and the bench: started on loopback on a free port with a fresh
// shared secret (REST-style credentials, `use-auth-secret`), lazily once per
// run, ready once it answers a STUN Binding request, stopped by its PID from
// the root hook (test/helpers/root-hooks.ts).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

export interface Coturn {
  /** turn: URIs of the relay (UDP and TCP). */
  uris: string[];
  secret: string;
  port: number;
  /** The People server config section that names this relay. */
  config(ttl?: string): { uris: string[]; shared_secret: string; ttl: string };
}

const BINARY = "/usr/bin/turnserver";
let running: Promise<Coturn & { stop(): Promise<void> }> | undefined;

/** The run's coturn, started on first use. */
export function coturn(): Promise<Coturn> {
  running ??= start();
  return running;
}

export async function stopCoturn(): Promise<void> {
  const started = running;
  running = undefined;
  if (!started) return;
  try {
    await (await started).stop();
  } catch {
    // it never started
  }
}

async function start(): Promise<Coturn & { stop(): Promise<void> }> {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: apt-get install coturn (.ci/run does)`);
  const dir = mkdtempSync(join(tmpdir(), "people-coturn-"));
  const port = await freePort();
  const secret = randomBytes(24).toString("base64url");
  // A relay port range of its own, away from the usual ephemeral ports.
  const minPort = 20_000 + Math.floor(Math.random() * 400) * 100;
  const child: ChildProcess = spawn(
    BINARY,
    [
      "-n",
      "--listening-ip=127.0.0.1",
      "--relay-ip=127.0.0.1",
      `--listening-port=${port}`,
      `--min-port=${minPort}`,
      `--max-port=${minPort + 99}`,
      "--use-auth-secret",
      `--static-auth-secret=${secret}`,
      "--realm=people.test",
      "--allow-loopback-peers",
      "--no-tls",
      "--no-dtls",
      "--no-cli",
      "--no-multicast-peers",
      `--userdb=${join(dir, "turndb")}`,
      `--pidfile=${join(dir, "turnserver.pid")}`,
      "--simple-log",
      `--log-file=${join(dir, "turn.log")}`,
    ],
    { stdio: "ignore" },
  );
  let exited = false;
  child.once("exit", () => (exited = true));
  const stop = async () => {
    if (!exited && child.pid !== undefined) {
      const gone = new Promise((resolve) => child.once("exit", resolve));
      process.kill(child.pid, "SIGTERM");
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (!exited) process.kill(child.pid, "SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  while (!(await stunAnswers(port))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`coturn did not answer STUN on 127.0.0.1:${port}`);
    }
  }
  const uris = [`turn:127.0.0.1:${port}?transport=udp`, `turn:127.0.0.1:${port}?transport=tcp`];
  return {
    uris,
    secret,
    port,
    config: (ttl = "1h") => ({ uris, shared_secret: secret, ttl }),
    stop,
  };
}

/** Whether a STUN Binding request (RFC 5389) to the port gets a success response within 500 ms. */
function stunAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    const request = Buffer.alloc(20);
    request.writeUInt16BE(0x0001, 0);
    request.writeUInt32BE(0x2112a442, 4);
    randomBytes(12).copy(request, 8);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 500);
    socket.on("error", () => done(false));
    socket.on("message", (m) =>
      done(
        m.length >= 20 && m.readUInt16BE(0) === 0x0101 && m.subarray(8, 20).equals(request.subarray(8, 20)),
      ),
    );
    socket.send(request, port, "127.0.0.1");
  });
}
