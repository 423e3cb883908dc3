// The people-rtc-relay sidecar (rtc-relay/, Go) for the MatrixRTC tests and the rtc-relay bench.
//
// ensureRtcRelayBuilt() builds it with scripts/build-rtc-relay.cjs (`go build`, the Go module
// proxy filling the module cache) into .cache/rtc-relay/<hash of rtc-relay/'s sources>/ on first
// use only, under the shared cache lock: CI builds it once per source change and reruns reuse it.
// The binary is built into a temporary directory and renamed into place, so its presence is the
// marker of a finished build.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { promisify } from "node:util";
import { acquireCacheLock, releaseCacheLock } from "./cache-lock.js";

const execFileAsync = promisify(execFile);

const ROOT = resolve(__dirname, "..", "..");
const SRC = join(ROOT, "rtc-relay");
const CACHE = join(ROOT, ".cache", "rtc-relay");
/** Module downloads plus compiling pion and LiveKit's Go SDK on a loaded 2-core machine. */
const BUILD_TIMEOUT_MS = 30 * 60_000;

function progress(message: string): void {
  process.stderr.write(`[rtc-relay-harness] ${message}\n`);
}

/** Every file of rtc-relay/ but its build output, hashed by path and content. */
export function rtcRelaySourceHash(): string {
  const h = createHash("sha256");
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== "bin") walk(path);
      } else if (e.isFile()) {
        h.update(relative(SRC, path)).update("\0").update(readFileSync(path)).update("\0");
      }
    }
  };
  walk(SRC);
  return h.digest("hex").slice(0, 16);
}

let building: Promise<string> | undefined;

/** The sidecar's binary for the current sources, built once per machine. */
export function ensureRtcRelayBuilt(): Promise<string> {
  building ??= buildOnce().catch((err: unknown) => {
    building = undefined;
    throw err;
  });
  return building;
}

async function buildOnce(): Promise<string> {
  if (!existsSync(join(SRC, "go.mod"))) throw new Error(`no rtc-relay Go module at ${SRC}`);
  const dir = join(CACHE, rtcRelaySourceHash());
  const binary = join(dir, "people-rtc-relay");
  if (existsSync(binary)) return binary;
  mkdirSync(CACHE, { recursive: true });
  const lock = join(CACHE, "build.lock");
  const held = await acquireCacheLock({
    dir: lock,
    what: "building people-rtc-relay",
    timeoutMs: BUILD_TIMEOUT_MS,
    done: () => existsSync(binary),
    progress,
  });
  try {
    if (existsSync(binary)) return binary;
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    const log = join(CACHE, "build.log");
    const started = Date.now();
    progress(`building people-rtc-relay with go build (first run for these sources; log ${log})...`);
    try {
      const { stdout, stderr } = await execFileAsync(
        process.execPath,
        [join(ROOT, "scripts", "build-rtc-relay.cjs"), tmp],
        { timeout: BUILD_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
      );
      writeFileSync(log, `${stdout}${stderr}`);
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      writeFileSync(log, `${e.stdout ?? ""}${e.stderr ?? ""}`);
      rmSync(tmp, { recursive: true, force: true });
      throw new Error(`building people-rtc-relay failed: ${e.message.split("\n")[0]} (see ${log})`);
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    progress(`people-rtc-relay built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return binary;
  } finally {
    if (held) releaseCacheLock(lock);
  }
}

/** The pids of people-rtc-relay processes descending from `root` (the bridge's sidecar). */
export function relayPidsUnder(root = process.pid): number[] {
  const parentOf = new Map<number, number>();
  const relays: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // "pid (comm) state ppid ...": comm may hold spaces, so read after its last ")".
      const after = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parentOf.set(Number(name), Number(after[1]));
      if (stat.includes("(people-rtc-rela")) relays.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return relays.filter((pid) => {
    for (let p = parentOf.get(pid); p !== undefined && p > 1; p = parentOf.get(p))
      if (p === root) return true;
    return false;
  });
}

const rtcNodeLoaded = (): boolean => Object.keys(require.cache).some((k) => k.includes("@livekit/rtc-node"));

/**
 * What was already there when this file's world started: the whole suite runs in one process, so
 * an earlier file may have loaded rtc-node (the transcode tests do) or left a sidecar still exiting.
 */
let baseline: { relays: Set<number>; rtcNodeLoaded: boolean } = { relays: new Set(), rtcNodeLoaded: false };

/** Called as a MatrixRTC world starts (startRtcBridgeWorld). */
export function noteSidecarBaseline(): void {
  baseline = { relays: new Set(relayPidsUnder()), rtcNodeLoaded: rtcNodeLoaded() };
}

/**
 * In passthrough mode, what shows the call's media went through the sidecar: one people-rtc-relay
 * process under this test process started since the world did (the bridge's child, or its
 * grandchild when the bridge is a child process) and, for an in-process bridge, no rtc-node loaded
 * since then (the transcode path loads it for its first call; when an earlier file loaded it, only
 * the sidecar is checked).
 */
export function assertMediaThroughSidecar(o: { bridgeInProcess: boolean }): void {
  const pids = relayPidsUnder().filter((pid) => !baseline.relays.has(pid));
  if (pids.length !== 1)
    throw new Error(`expected one people-rtc-relay under the bridge, found ${pids.length}`);
  if (o.bridgeInProcess && !baseline.rtcNodeLoaded && rtcNodeLoaded())
    throw new Error("the bridge loaded @livekit/rtc-node: its calls transcoded");
}
