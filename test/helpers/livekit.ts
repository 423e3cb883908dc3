// A real LiveKit SFU for the MatrixRTC (Element Call) tests and the rtc bench, without Docker.
//
// ensureLivekitBuilt() builds livekit-server LIVEKIT_VERSION from the Go module proxy with
// `GOBIN=<repo>/.cache/livekit go install github.com/livekit/livekit-server/cmd/server@…`
// on first use only (the module's main package is cmd/server, so `go install` of the module
// root finds no Go files), then renames the binary to livekit-server-<version>: that file is
// the marker of a finished build. A mkdir lock keeps concurrent test processes from building
// twice; a lock whose owner died is broken. v1.13.x does not build from the proxy (its pion
// forks are refused), so the version is pinned.
//
// startLivekit() runs it on loopback with a fresh dev key/secret on free ports (HTTP/signal,
// RTC over TCP, one UDP mux port) and stops it by PID.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { stringify as toYaml } from "yaml";
import { acquireCacheLock, releaseCacheLock } from "./cache-lock.js";
import { freePort } from "./ports.js";

const execFileAsync = promisify(execFile);

export const LIVEKIT_VERSION = "v1.11.0";

const ROOT = resolve(__dirname, "..", "..");
const BIN_DIR = join(ROOT, ".cache", "livekit");
const BINARY = join(BIN_DIR, `livekit-server-${LIVEKIT_VERSION}`);
const LOCK_DIR = join(ROOT, ".cache", "livekit.lock");
const BUILD_LOG = join(BIN_DIR, "build.log");
/** The first build on a loaded 2-core machine: module downloads plus compiling pion and grpc. */
const BUILD_TIMEOUT_MS = 30 * 60_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function progress(message: string): void {
  process.stderr.write(`[livekit-harness] ${message}\n`);
}

/** `go` from PATH, else the official tarball's place (.ci/run makes sure one of them exists). */
function goBinary(): string {
  if (process.env.PEOPLE_TEST_GO) return process.env.PEOPLE_TEST_GO;
  for (const dir of (process.env.PATH ?? "").split(":")) {
    if (dir && existsSync(join(dir, "go"))) return join(dir, "go");
  }
  if (existsSync("/usr/local/go/bin/go")) return "/usr/local/go/bin/go";
  throw new Error("the LiveKit tests build livekit-server with Go: install Go (.ci/run does)");
}

let building: Promise<string> | undefined;

/** Builds livekit-server into the repo's cache once per machine and returns its path. */
export function ensureLivekitBuilt(): Promise<string> {
  building ??= buildOnce().catch((err: unknown) => {
    building = undefined;
    throw err;
  });
  return building;
}

async function buildOnce(): Promise<string> {
  if (existsSync(BINARY)) return BINARY;
  mkdirSync(BIN_DIR, { recursive: true });
  const held = await acquireCacheLock({
    dir: LOCK_DIR,
    what: "building livekit-server",
    timeoutMs: BUILD_TIMEOUT_MS,
    done: () => existsSync(BINARY),
    progress,
  });
  try {
    if (existsSync(BINARY)) return BINARY;
    const started = Date.now();
    progress(
      `building livekit-server ${LIVEKIT_VERSION} with go install (first run only; log ${BUILD_LOG})...`,
    );
    const go = goBinary();
    try {
      const { stdout, stderr } = await execFileAsync(
        go,
        ["install", `github.com/livekit/livekit-server/cmd/server@${LIVEKIT_VERSION}`],
        {
          timeout: BUILD_TIMEOUT_MS,
          maxBuffer: 64 * 1024 * 1024,
          env: { ...process.env, GOBIN: BIN_DIR },
        },
      );
      writeFileSync(BUILD_LOG, `${stdout}${stderr}`);
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      writeFileSync(BUILD_LOG, `${e.stdout ?? ""}${e.stderr ?? ""}`);
      throw new Error(
        `go install livekit-server ${LIVEKIT_VERSION} failed: ${e.message.split("\n")[0]} (see ${BUILD_LOG})`,
      );
    }
    renameSync(join(BIN_DIR, "server"), BINARY);
    progress(`livekit-server ${LIVEKIT_VERSION} built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return BINARY;
  } finally {
    if (held) releaseCacheLock(LOCK_DIR);
  }
}

export interface Livekit {
  /** ws://127.0.0.1:PORT, what clients connect to. */
  wsUrl: string;
  /** http://127.0.0.1:PORT, the same port for the server API. */
  httpUrl: string;
  apiKey: string;
  apiSecret: string;
  readonly pid: number | undefined;
  /** Stops the server by its PID (SIGTERM, SIGKILL after 10 s). */
  stop(): Promise<void>;
}

// livekit-server is exec'd by python after asking Linux to SIGKILL it when the test process
// dies, even by SIGKILL (no "exit" handler runs then); the PID stays the same across exec.
const EXEC_WITH_PDEATHSIG = `
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
except Exception:
    pass
os.execv(sys.argv[1], sys.argv[1:])
`;

const live = new Set<ChildProcess>();
let exitHandler = false;

/** Starts a livekit-server on loopback; builds it first if needed. */
export async function startLivekit(): Promise<Livekit> {
  const binary = await ensureLivekitBuilt();
  if (!exitHandler) {
    exitHandler = true;
    process.on("exit", () => {
      for (const child of live) child.kill("SIGKILL");
    });
  }
  const dir = mkdtempSync(join(tmpdir(), "people-livekit-"));
  const [port, tcpPort, udpPort] = [await freePort(), await freePort(), await freePort()];
  const apiKey = `dev${randomBytes(4).toString("hex")}`;
  const apiSecret = randomBytes(32).toString("base64url"); // livekit wants secrets of 32+ characters
  const config = {
    port,
    bind_addresses: ["127.0.0.1"],
    rtc: {
      tcp_port: tcpPort,
      udp_port: udpPort,
      use_external_ip: false,
      node_ip: "127.0.0.1",
      enable_loopback_candidate: true,
    },
    keys: { [apiKey]: apiSecret },
    // PEOPLE_TEST_LIVEKIT_LOG=debug (with PEOPLE_TEST_KEEP_LIVEKIT=1) shows subscriptions and keyframes.
    logging: { level: process.env.PEOPLE_TEST_LIVEKIT_LOG ?? "info" },
  };
  const configPath = join(dir, "livekit.yaml");
  writeFileSync(configPath, toYaml(config), { mode: 0o600 });
  const log = join(dir, "livekit.log");
  const fd = openSync(log, "a");
  const child = spawn(
    "python3",
    ["-c", EXEC_WITH_PDEATHSIG, binary, "--config", configPath, "--bind", "127.0.0.1"],
    {
      stdio: ["ignore", fd, fd],
    },
  );
  closeSync(fd);
  live.add(child);
  let exitInfo: string | undefined;
  const exited = new Promise<void>((r) =>
    child.once("exit", (code, signal) => {
      exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
      live.delete(child);
      r();
    }),
  );
  const httpUrl = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (exitInfo === undefined && child.pid !== undefined) {
      process.kill(child.pid, "SIGTERM");
      const graceful = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!graceful && exitInfo === undefined) {
        process.kill(child.pid, "SIGKILL");
        await exited;
      }
    }
    if (!process.env.PEOPLE_TEST_KEEP_LIVEKIT) rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exitInfo !== undefined) {
      const tail = existsSync(log) ? readFileSync(log, "utf8").split("\n").slice(-20).join("\n") : "";
      throw new Error(`livekit-server ${exitInfo} while starting:\n${tail}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`livekit-server did not answer on ${httpUrl} within 60 s`);
    }
    try {
      const res = await fetch(httpUrl, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return {
    wsUrl: `ws://127.0.0.1:${port}`,
    httpUrl,
    apiKey,
    apiSecret,
    get pid() {
      return exitInfo === undefined ? child.pid : undefined;
    },
    stop,
  };
}

/**
 * What Element Call needs of Synapse (element-call docs/self-hosting.md), for startSynapse's
 * options: MSC4222 (state_after in sync), MSC4140 delayed events (enabled by a maximum delay;
 * the call member's "leave" is a delayed event) and the LiveKit focus in
 * /.well-known/matrix/client. MSC3266 (room summary) is stable in Synapse 1.163: no flag.
 */
export function elementCallSynapseOptions(livekitServiceUrl: string): {
  experimentalFeatures: Record<string, unknown>;
  config: Record<string, unknown>;
} {
  return {
    experimentalFeatures: { msc4222_enabled: true, msc4143_enabled: true },
    config: {
      max_event_delay_duration: "24h",
      extra_well_known_client_content: {
        "org.matrix.msc4143.rtc_foci": [{ type: "livekit", livekit_service_url: livekitServiceUrl }],
      },
      matrix_rtc: { transports: [{ type: "livekit", livekit_service_url: livekitServiceUrl }] },
    },
  };
}
