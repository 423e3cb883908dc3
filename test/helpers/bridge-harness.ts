// The bridge under test: its config and files in a temp dir, the real CLI for
// the registration, startBridge with a log capture, and Element-like Matrix
// users on matrix-js-sdk (the SDK Element is built on) against the harness's
// real Synapse.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import {
  ClientEvent,
  RoomEvent,
  SyncState,
  createClient,
  type MatrixClient,
  type MatrixEvent,
} from "matrix-js-sdk";
import { logger as sdkGlobalLogger } from "matrix-js-sdk/lib/logger.js";
import { stringify as toYaml } from "yaml";
import { startBridge, type BridgeHandle, type StartBridgeOptions } from "../../src/bridge/bridge.js";
import { parseBridgeConfig, type BridgeConfig, type BridgeConfigInput } from "../../src/bridge/config.js";
import { createBridgeLogger, type Logger } from "../../src/bridge/logger.js";
import { readRegistrationFile, type Registration } from "../../src/bridge/registration.js";
import { collectGarbage, inspectorUrlIn } from "./inspector-gc.js";
import { quietSdkLogger } from "./matrix-sdk-node.js";
import type { SynapseHandle } from "./synapse.js";

const execFileAsync = promisify(execFile);
const ROOT = resolve(__dirname, "..", "..");
export const BRIDGE_BIN = join(ROOT, "src", "bridge", "bin.cjs");

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * How long a wait gives its condition unless told otherwise: generous, because CI's 2-core machine
 * may be busy (Synapse under load answers in seconds); a wait ends as soon as its condition holds,
 * so this costs a passing test nothing.
 */
export const WAIT_DEFAULT_MS = 60_000;

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = WAIT_DEFAULT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

// ---------------------------------------------------------------------------
// Files and config

export interface BridgeDir {
  dir: string;
  configPath: string;
  registrationPath: string;
  remove(): void;
}

export function makeBridgeDir(): BridgeDir {
  const dir = mkdtempSync(join(tmpdir(), "people-bridge-"));
  return {
    dir,
    configPath: join(dir, "config.yaml"),
    registrationPath: join(dir, "registration.yaml"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A config for tests: loopback, People server and metrics on port 0, everything under `dir`. */
export function bridgeConfigInput(
  dir: string,
  o: {
    homeserverUrl: string;
    homeserverDomain?: string;
    appservicePort?: number;
    peopleDomain?: string;
    permissions?: Record<string, "relay" | "user" | "admin">;
  },
): BridgeConfigInput {
  return {
    homeserver: { url: o.homeserverUrl, domain: o.homeserverDomain ?? "localhost" },
    appservice: { hostname: "127.0.0.1", port: o.appservicePort ?? 0 },
    bridge: { permissions: o.permissions ?? { localhost: "user" } },
    database: { engine: "sqlite", connection: "bridge.db" },
    // matrix-appservice-bridge's own (console) logs; the bridge's logs go to the capture.
    logging: { level: "warn" },
    metrics: { enabled: true, hostname: "127.0.0.1", port: 0 },
    people: {
      domain: o.peopleDomain ?? "people.test",
      listen: { host: "127.0.0.1", port: 0 },
      data_dir: join(dir, "data"),
      log: { level: "warn" },
    },
  };
}

export function writeConfigFile(path: string, input: BridgeConfigInput): void {
  writeFileSync(path, toYaml(input));
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `matrix-appservice-people` command (src/bridge/bin.cjs) with Node 22. */
export async function runCli(args: string[], cwd: string): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [BRIDGE_BIN, ...args], {
      cwd,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** `matrix-appservice-people -r -u <url> -f <registration> -c <config>`, then reads the file. */
export async function generateRegistrationWithCli(files: BridgeDir, url: string): Promise<Registration> {
  const result = await runCli(
    ["-r", "-u", url, "-f", files.registrationPath, "-c", files.configPath],
    files.dir,
  );
  assert.equal(result.code, 0, `registration generation failed:\n${result.stdout}\n${result.stderr}`);
  return readRegistrationFile(files.registrationPath);
}

// ---------------------------------------------------------------------------
// Logs

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface LogCapture {
  logger: Logger;
  lines: LogLine[];
  /** Resolves with the first line (past or future) whose msg matches. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<LogLine>;
}

export function captureLogs(level = "debug"): LogCapture {
  const lines: LogLine[] = [];
  const verbose = Boolean(process.env.PEOPLE_TEST_VERBOSE);
  const logger = createBridgeLogger(level, {
    write(text: string) {
      if (verbose) process.stderr.write(text);
      for (const line of text.split("\n")) if (line) lines.push(JSON.parse(line) as LogLine);
    },
  });
  return {
    logger,
    lines,
    waitFor: (pattern, timeoutMs = WAIT_DEFAULT_MS) =>
      eventually(`a log line matching ${pattern}`, () => lines.find((l) => pattern.test(l.msg)), timeoutMs),
  };
}

// ---------------------------------------------------------------------------
// The bridge

export interface TestBridge {
  handle: BridgeHandle;
  config: BridgeConfig;
  logs: LogCapture;
  stop(): Promise<void>;
}

export async function startTestBridge(
  input: BridgeConfigInput,
  registration: Registration,
  o: Omit<StartBridgeOptions, "logger"> = {},
): Promise<TestBridge> {
  const config = parseBridgeConfig(input);
  const logs = captureLogs();
  const handle = await startBridge(config, registration, {
    retry: { initialMs: 200, maxMs: 1_000, recheckMs: 300 },
    ...o,
    logger: logs.logger,
  });
  return { handle, config, logs, stop: () => handle.stop() };
}

// ---------------------------------------------------------------------------
// Matrix users on matrix-js-sdk

// Parts of matrix-js-sdk log through its global logger rather than the client's.
(sdkGlobalLogger as unknown as { setLevel(level: string): void }).setLevel(
  process.env.PEOPLE_TEST_VERBOSE ? "debug" : "error",
);

export interface MatrixUser {
  userId: string;
  accessToken: string;
  client: MatrixClient;
}

/** Registers a user on Synapse and starts a synced matrix-js-sdk client for it, as Element would. */
export async function startMatrixUser(hs: SynapseHandle, localpart: string): Promise<MatrixUser> {
  const account = await hs.registerUser(localpart, `${localpart}-password`);
  const client = createClient({
    baseUrl: hs.url,
    userId: account.userId,
    accessToken: account.accessToken,
    deviceId: account.deviceId,
    logger: quietSdkLogger,
  });
  const synced = new Promise<void>((resolveSynced) => {
    const onSync = (state: SyncState) => {
      if (state === SyncState.Prepared || state === SyncState.Syncing) {
        client.off(ClientEvent.Sync, onSync);
        resolveSynced();
      }
    };
    client.on(ClientEvent.Sync, onSync);
  });
  await client.startClient({ initialSyncLimit: 10 });
  await synced;
  return { userId: account.userId, accessToken: account.accessToken, client };
}

/** Resolves with the first timeline event in `roomId` (already there or arriving) that matches. */
export function waitForTimelineEvent(
  client: MatrixClient,
  roomId: string,
  match: (event: MatrixEvent) => boolean,
  timeoutMs = WAIT_DEFAULT_MS,
): Promise<MatrixEvent> {
  return new Promise((resolveEvent, reject) => {
    const existing = client
      .getRoom(roomId)
      ?.getLiveTimeline()
      .getEvents()
      .find((e) => match(e));
    if (existing) return resolveEvent(existing);
    const timer = setTimeout(() => {
      client.off(RoomEvent.Timeline, onEvent);
      reject(new Error(`no matching event in ${roomId} within ${timeoutMs} ms`));
    }, timeoutMs);
    function onEvent(event: MatrixEvent, room: { roomId: string } | undefined) {
      if (room?.roomId !== roomId || !match(event)) return;
      clearTimeout(timer);
      client.off(RoomEvent.Timeline, onEvent);
      resolveEvent(event);
    }
    client.on(RoomEvent.Timeline, onEvent);
  });
}

/** The notice the bot sent in answer to `eventId` (a rich reply to it). */
export function isBotReplyTo(botUserId: string, eventId: string) {
  return (event: MatrixEvent): boolean => {
    const content = event.getContent() as {
      msgtype?: string;
      "m.relates_to"?: { "m.in_reply_to"?: { event_id?: string } };
    };
    return (
      event.getSender() === botUserId &&
      content.msgtype === "m.notice" &&
      content["m.relates_to"]?.["m.in_reply_to"]?.event_id === eventId
    );
  };
}

type Json = Record<string, unknown>;

/** A client-server API call as `token`; asserts success. */
export async function matrixApi(
  hs: SynapseHandle,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Json> {
  const res = await fetch(`${hs.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Json;
}

/** The room's latest events (newest first), read through the REST API (no sync involved). */
export async function roomMessages(
  hs: SynapseHandle,
  token: string,
  roomId: string,
  limit = 50,
): Promise<Json[]> {
  const page = await matrixApi(
    hs,
    token,
    "GET",
    `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=${limit}`,
  );
  return page.chunk as Json[];
}

/** Pushes a transaction to the bridge's appservice endpoint, as the homeserver would. */
export async function putTransaction(
  port: number,
  hsToken: string,
  txnId: string,
  body: Json,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(
    `http://127.0.0.1:${port}/_matrix/app/v1/transactions/${encodeURIComponent(txnId)}`,
    {
      method: "PUT",
      headers: { authorization: `Bearer ${hsToken}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    },
  );
  return { status: res.status, body: (await res.json()) as Json };
}

// ---------------------------------------------------------------------------
// The bridge as a child process (the real command), so it can be SIGKILLed

export interface BridgeProcess {
  /** pid of the running bridge, if any. */
  readonly pid: number | undefined;
  /** JSON log lines of all runs so far (the config's `logging.level` decides which). */
  readonly logs: LogLine[];
  /** Starts `matrix-appservice-people -c <config> -f <registration>`; resolves once it is connected. */
  start(timeoutMs?: number): Promise<void>;
  /** Sends `signal` and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** A full garbage collection in the bridge (only when started with `inspect`). */
  collectGarbage(): Promise<void>;
}

export interface BridgeProcessOptions {
  /** Starts Node's inspector on a free loopback port, for collectGarbage (memory readings). */
  inspect?: boolean;
}

/**
 * Runs the bridge with `src/bridge/bin.cjs` in its own process. Ready means the log line
 * "connected to the homeserver", so the config's `logging.level` must be info or lower.
 */
const liveBridges = new Set<ChildProcess>();
let exitHandler = false;

export function bridgeProcess(files: BridgeDir, options: BridgeProcessOptions = {}): BridgeProcess {
  if (!exitHandler) {
    exitHandler = true;
    // Never leave a bridge behind, whatever ends the test run.
    process.on("exit", () => {
      for (const proc of liveBridges) proc.kill("SIGKILL");
    });
  }
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const logs: LogLine[] = [];
  const verbose = Boolean(process.env.PEOPLE_TEST_VERBOSE);
  let inspectorUrl: string | undefined;
  return {
    get pid() {
      return child?.pid;
    },
    logs,
    async start(timeoutMs = 120_000) {
      if (child) throw new Error("the bridge process is already running");
      inspectorUrl = undefined;
      const proc = spawn(
        process.execPath,
        [
          ...(options.inspect ? ["--inspect=127.0.0.1:0"] : []),
          BRIDGE_BIN,
          "-c",
          files.configPath,
          "-f",
          files.registrationPath,
        ],
        { cwd: files.dir, stdio: ["ignore", "pipe", "pipe"] },
      );
      child = proc;
      liveBridges.add(proc);
      const run = logs.length;
      let exitInfo: string | undefined;
      exited = new Promise((resolveExit) => {
        proc.once("exit", (code, signal) => {
          exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
          if (child === proc) child = undefined;
          liveBridges.delete(proc);
          resolveExit();
        });
      });
      let pending = "";
      proc.stdout!.setEncoding("utf8").on("data", (text: string) => {
        if (verbose) process.stderr.write(text);
        pending += text;
        const lines = pending.split("\n");
        pending = lines.pop()!;
        for (const line of lines) {
          try {
            logs.push(JSON.parse(line) as LogLine);
          } catch {
            // not a log line
          }
        }
      });
      let stderr = "";
      proc.stderr!.setEncoding("utf8").on("data", (text: string) => {
        if (verbose) process.stderr.write(text);
        stderr = (stderr + text).slice(-4000);
        inspectorUrl ??= inspectorUrlIn(stderr);
      });
      await eventually(
        "the bridge process to connect to the homeserver",
        () => {
          if (exitInfo) assert.fail(`the bridge ${exitInfo} while starting:\n${stderr}`);
          return logs.slice(run).some((l) => l.msg === "connected to the homeserver") || undefined;
        },
        timeoutMs,
      );
    },
    async kill(signal = "SIGKILL") {
      const proc = child;
      if (!proc) return;
      proc.kill(signal);
      await exited;
    },
    async collectGarbage() {
      if (!inspectorUrl) throw new Error("the bridge was not started with its inspector (options.inspect)");
      await collectGarbage(inspectorUrl);
    },
  };
}
