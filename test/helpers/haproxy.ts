// HAProxy from Debian (.ci/run installs it) in front of several People server
// processes, as README "Running a domain on several processes" runs it: TCP
// mode with TLS passed through to the servers (so WebSocket upgrades need
// nothing special), health checks on /_people/v1/health over TLS, a failed
// connect redispatched to another server. Started on a free port, stopped by PID.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";

const BINARY = "/usr/sbin/haproxy";

export interface HaproxyHandle {
  port: number;
  /** With `pinned`: one front port per server, in order (a test that must reach one process). */
  pinnedPorts: number[];
  /** The config file as written (the README's sample is the same shape). */
  config: string;
  stop(): Promise<void>;
}

export interface HaproxyOptions {
  /**
   * Send the PROXY protocol v2 header (`send-proxy-v2`) from this source address (a loopback
   * address other than 127.0.0.1, so the servers can trust it alone: listen.trusted_proxies).
   */
  proxyFrom?: string;
  /** Also a front port per server that reaches only that one. */
  pinned?: boolean;
}

/** The config for servers on loopback ports; `port` is the balancer's. */
export function haproxyConfig(
  port: number,
  servers: readonly number[],
  o: HaproxyOptions = {},
  pinnedPorts: readonly number[] = [],
): string {
  const source = o.proxyFrom ? [`  source ${o.proxyFrom}`] : [];
  const send = o.proxyFrom ? " send-proxy-v2" : "";
  return [
    "global",
    "  maxconn 4000",
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 1h",
    "  timeout server 1h",
    "  retries 3",
    "  option redispatch",
    "frontend people",
    `  bind 127.0.0.1:${port}`,
    "  default_backend people_servers",
    "backend people_servers",
    "  balance leastconn",
    "  option httpchk",
    "  http-check send meth GET uri /_people/v1/health",
    "  http-check expect status 200",
    ...source,
    // With send-proxy-v2 the health checks send the header too (a LOCAL one).
    `  default-server check check-ssl verify none inter 500ms fall 2 rise 1${send}`,
    ...servers.map((p, i) => `  server people${i + 1} 127.0.0.1:${p}`),
    ...pinnedPorts.flatMap((front, i) => [
      `listen people_pinned${i + 1}`,
      `  bind 127.0.0.1:${front}`,
      ...source,
      `  server people${i + 1} 127.0.0.1:${servers[i]}${send}`,
    ]),
    "",
  ].join("\n");
}

export async function startHaproxy(
  servers: readonly number[],
  options: HaproxyOptions = {},
): Promise<HaproxyHandle> {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: apt-get install haproxy (.ci/run does)`);
  const dir = mkdtempSync(join(tmpdir(), "people-haproxy-"));
  const port = await freePort();
  const pinnedPorts: number[] = [];
  if (options.pinned) for (const _ of servers) pinnedPorts.push(await freePort());
  const config = haproxyConfig(port, servers, options, pinnedPorts);
  const file = join(dir, "haproxy.cfg");
  writeFileSync(file, config);
  const log = join(dir, "haproxy.log");
  const child: ChildProcess = spawn(BINARY, ["-db", "-f", file], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let exited = false;
  child.once("exit", () => (exited = true));
  const stop = async () => {
    if (!exited && child.pid !== undefined) {
      const gone = new Promise((resolve) => child.once("exit", resolve));
      process.kill(child.pid, "SIGTERM");
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Ready once it accepts a TCP connection on the front port.
  for (const until = Date.now() + 60_000; ;) {
    if (exited) {
      await stop();
      throw new Error(`haproxy exited: ${stderr}${existsSync(log) ? readFileSync(log, "utf8") : ""}`);
    }
    if (await accepts(port)) break;
    if (Date.now() > until) {
      await stop();
      throw new Error("haproxy did not start");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { port, pinnedPorts, config, stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
