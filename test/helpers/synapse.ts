// A real Synapse homeserver for the end-to-end tests, without Docker.
//
// ensureSynapseInstalled() creates a Python venv under
// <repo>/.cache/synapse-<version>/venv and pip-installs the pinned Synapse
// there, from wheels only (no compiler or Rust toolchain needed), with every
// transitive dependency pinned too. It runs once per machine: a marker file
// records a finished install and a mkdir-based lock keeps concurrent test
// processes from installing twice. The first install takes about half a
// minute; call it from a before() hook with a generous timeout:
//
//   before(async function () {
//     this.timeout(900_000);
//     await ensureSynapseInstalled();
//   });
//
// startSynapse() writes a complete homeserver.yaml into a fresh temp dir
// (SQLite, one plain-HTTP listener on 127.0.0.1 at a free port, rate limits
// off, registration open, shared-secret registration, the appservice
// registrations given) and runs `python -m synapse.app.homeserver` as a child
// process. Synapse logs to <dir>/homeserver.log, its stdout/stderr go to
// <dir>/stdio.log. If the test process exits or dies, the child goes with it.
//
// Environment:
//   PEOPLE_TEST_PYTHON        Python (>= 3.10) used to create the venv; default python3.
//   PEOPLE_TEST_KEEP_SYNAPSE  if set, temp dirs are kept after stop() for inspection.

import { acquireCacheLock, releaseCacheLock } from "./cache-lock.js";
import { freePort } from "./ports.js";
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { createHmac, generateKeyPairSync, randomBytes, createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { promisify } from "node:util";
import { stringify as toYaml } from "yaml";

const execFileAsync = promisify(execFile);

/** The pinned Synapse release. 1.141+ is needed for MSC4190 appservice device management. */
export const SYNAPSE_VERSION = "1.163.2";

// Every package of the venv, pinned (pip freeze of a clean install of SYNAPSE_VERSION
// on CPython 3.11, x86_64 manylinux), so that a new release of Twisted or pydantic
// cannot change the homeserver under the tests. All of them ship wheels.
const CONSTRAINTS = `
annotated-types==0.8.0
attrs==26.1.0
Automat==25.4.16
bcrypt==5.0.0
bleach==6.4.0
canonicaljson==2.0.0
certifi==2026.10.19.post1
cffi==2.1.1
charset-normalizer==3.5.2
constantly==23.10.4
cryptography==50.0.2
hyperlink==21.0.0
idna==3.20
ijson==3.6.0
immutabledict==4.3.1
Incremental==24.11.0
Jinja2==3.1.6
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
MarkupSafe==3.0.4
matrix-common==1.3.0
matrix-synapse==${SYNAPSE_VERSION}
msgpack==1.2.4
multipart==2.0.1
netaddr==1.3.0
packaging==26.3
phonenumbers==9.0.43
pillow==13.0.0
prometheus_client==0.26.0
pyasn1==0.6.5
pyasn1_modules==0.4.2
pycparser==3.12
pydantic==2.14.4
pydantic_core==2.50.5
pymacaroons==0.13.0
PyNaCl==1.6.2
pyOpenSSL==26.4.0
pyparsing==3.3.3
pyrsistent==0.20.0
python-multipart==0.0.34
PyYAML==6.0.4
referencing==0.37.0
requests==2.34.2
rpds-py==2026.9.1
semantic-version==2.10.0
service-identity==26.1.0
setuptools-rust==1.13.0
signedjson==1.1.4
six==1.17.0
sortedcontainers==2.4.0
treq==26.7.0
Twisted==26.10.0
typing-inspection==0.4.5
typing_extensions==4.16.0
unpaddedbase64==2.1.0
urllib3==2.8.0
webencodings==0.6.1
zope.interface==8.7
`.trimStart();

/**
 * experimental_features always set. Synapse reads these keys with dict.get, so it would
 * silently ignore a misspelt or removed one: the install checks that the pinned
 * version's synapse/config/experimental.py still reads each of them.
 */
export const SYNAPSE_EXPERIMENTAL_FEATURES: Readonly<Record<string, unknown>> = {
  // MSC2409/MSC4203: to-device messages pushed to appservices.
  msc2409_to_device_messages_enabled: true,
  // MSC3202: device list changes, OTK counts and fallback-key usage in AS transactions.
  msc3202_transaction_extensions: true,
};

const ROOT = resolve(__dirname, "..", "..");
const CACHE_DIR = join(ROOT, ".cache", `synapse-${SYNAPSE_VERSION}`);
const VENV_DIR = join(CACHE_DIR, "venv");
const VENV_PYTHON = join(VENV_DIR, "bin", "python");
const MARKER = join(CACHE_DIR, "installed.json");
const LOCK_DIR = `${CACHE_DIR}.lock`;
const INSTALL_LOG = join(CACHE_DIR, "install.log");
const CONSTRAINTS_HASH = createHash("sha256").update(CONSTRAINTS).digest("hex").slice(0, 16);
const LOCK_WAIT_MS = 20 * 60_000;

const KEEP_DIRS = Boolean(process.env.PEOPLE_TEST_KEEP_SYNAPSE);

function progress(message: string): void {
  process.stderr.write(`[synapse-harness] ${message}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tail(file: string, lines: number): string {
  if (!existsSync(file)) return "(none)";
  const all = readFileSync(file, "utf8").trimEnd().split("\n");
  return all.slice(-lines).join("\n") || "(empty)";
}

// ---------------------------------------------------------------------------
// Installation

interface Marker {
  version: string;
  constraints: string;
}

function installed(): boolean {
  if (!existsSync(MARKER) || !existsSync(VENV_PYTHON)) return false;
  try {
    const m = JSON.parse(readFileSync(MARKER, "utf8")) as Partial<Marker>;
    return m.version === SYNAPSE_VERSION && m.constraints === CONSTRAINTS_HASH;
  } catch {
    return false;
  }
}

let installing: Promise<string> | undefined;

/**
 * Installs the pinned Synapse into the repo's cache (once per machine) and returns
 * the path to the venv's python.
 */
export function ensureSynapseInstalled(): Promise<string> {
  installing ??= installOnce().catch((err: unknown) => {
    installing = undefined; // let a later call try again
    throw err;
  });
  return installing;
}

async function installOnce(): Promise<string> {
  if (installed()) return VENV_PYTHON;
  mkdirSync(join(ROOT, ".cache"), { recursive: true });
  const held = await acquireCacheLock({
    dir: LOCK_DIR,
    what: `installing Synapse ${SYNAPSE_VERSION}`,
    timeoutMs: LOCK_WAIT_MS,
    done: installed,
    progress,
  });
  try {
    if (installed()) return VENV_PYTHON; // another process finished while we waited
    await install();
    return VENV_PYTHON;
  } finally {
    if (held) releaseCacheLock(LOCK_DIR);
  }
}

async function run(file: string, args: string[], what: string, timeoutMs: number): Promise<string> {
  try {
    const { stdout, stderr } = await execFileAsync(file, args, {
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1", PIP_NO_INPUT: "1" },
    });
    writeFileSync(INSTALL_LOG, `$ ${file} ${args.join(" ")}\n${stdout}${stderr}\n`, { flag: "a" });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const output = `${e.stdout ?? ""}${e.stderr ?? ""}`;
    writeFileSync(INSTALL_LOG, `$ ${file} ${args.join(" ")}\n${output}\n`, { flag: "a" });
    throw new Error(
      `${what} failed: ${e.message.split("\n")[0]}\n${output.trimEnd().split("\n").slice(-30).join("\n")}`,
    );
  }
}

async function install(): Promise<void> {
  const started = Date.now();
  const python = process.env.PEOPLE_TEST_PYTHON || "python3";
  progress(`installing Synapse ${SYNAPSE_VERSION} into ${VENV_DIR} (first run only, ~1 min)...`);
  rmSync(CACHE_DIR, { recursive: true, force: true }); // whatever an interrupted attempt left
  mkdirSync(CACHE_DIR, { recursive: true });

  let version: string;
  try {
    version = (
      await execFileAsync(python, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
    ).stdout.trim();
  } catch (err) {
    throw new Error(
      `Synapse tests need Python >= 3.10 as \`${python}\` (or set PEOPLE_TEST_PYTHON): ${String(err)}`,
    );
  }
  const [major = 0, minor = 0] = version.split(".").map(Number);
  if (major !== 3 || minor < 10) {
    throw new Error(`Synapse ${SYNAPSE_VERSION} needs Python >= 3.10, but ${python} is ${version}`);
  }

  try {
    await run(python, ["-m", "venv", VENV_DIR], "creating the Synapse venv", 300_000);
  } catch (err) {
    throw new Error(
      `${(err as Error).message}\nOn Debian/Ubuntu system Python, install the venv module: ` +
        `apt-get install -y python3-venv`,
    );
  }
  const constraintsFile = join(CACHE_DIR, "constraints.txt");
  writeFileSync(constraintsFile, CONSTRAINTS);
  progress(`pip install matrix-synapse==${SYNAPSE_VERSION} (log: ${INSTALL_LOG})...`);
  await run(
    VENV_PYTHON,
    [
      "-m",
      "pip",
      "install",
      "--progress-bar",
      "off",
      // Wheels only: never fall back to compiling (Synapse's Rust module, cryptography...).
      "--only-binary",
      ":all:",
      "--constraint",
      constraintsFile,
      `matrix-synapse==${SYNAPSE_VERSION}`,
    ],
    `pip install matrix-synapse==${SYNAPSE_VERSION} (wheels only; see ${INSTALL_LOG})`,
    900_000,
  );

  // Check the result: the version imports, and the experimental flags are still read.
  const check = [
    "import importlib.metadata, inspect, synapse.app.homeserver, synapse.config.experimental as e",
    "print(importlib.metadata.version('matrix-synapse'))",
    "print(inspect.getsource(e))",
  ].join("\n");
  const out = await run(VENV_PYTHON, ["-c", check], "importing the installed Synapse", 120_000);
  const importedVersion = out.split("\n")[0]?.trim();
  if (importedVersion !== SYNAPSE_VERSION) {
    throw new Error(`installed Synapse reports version ${importedVersion}, expected ${SYNAPSE_VERSION}`);
  }
  for (const key of Object.keys(SYNAPSE_EXPERIMENTAL_FEATURES)) {
    if (!out.includes(`"${key}"`)) {
      throw new Error(`Synapse ${SYNAPSE_VERSION} no longer reads experimental_features.${key}`);
    }
  }

  const marker: Marker = { version: SYNAPSE_VERSION, constraints: CONSTRAINTS_HASH };
  writeFileSync(
    MARKER,
    JSON.stringify({ ...marker, python: version, installedAt: new Date().toISOString() }),
  );
  progress(`Synapse ${SYNAPSE_VERSION} installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------------------
// Running

export interface SynapseUser {
  userId: string;
  accessToken: string;
  deviceId: string;
}

export interface StartSynapseOptions {
  /** Paths to appservice registration YAML files. */
  appserviceRegistrations?: string[];
  /** Default "localhost". */
  serverName?: string;
  /** Extra experimental_features, merged over SYNAPSE_EXPERIMENTAL_FEATURES. */
  experimentalFeatures?: Record<string, unknown>;
  /** Extra top-level homeserver.yaml settings, merged over the harness's (shallowly). */
  config?: Record<string, unknown>;
}

export interface RestartOptions {
  /** SIGTERM (default) stops Synapse cleanly; SIGKILL simulates a crash. */
  signal?: "SIGTERM" | "SIGKILL";
  /** Runs while Synapse is down, before it is started again. */
  whileDown?: () => Promise<void> | void;
}

export interface SynapseHandle {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  serverName: string;
  /** The temp dir with homeserver.yaml, the SQLite database, homeserver.log and stdio.log. */
  dir: string;
  /** Access token of an admin user made at the first start ("@harness-admin:<serverName>"). */
  adminToken?: string;
  /** pid of the running Synapse process, if any. */
  readonly pid: number | undefined;
  /** Registers a user with the shared-secret admin API. */
  registerUser(localpart: string, password: string, o?: { admin?: boolean }): Promise<SynapseUser>;
  /** Stops Synapse (SIGTERM, then SIGKILL after 10 s) and deletes its dir. */
  stop(): Promise<void>;
  /** Stops Synapse and starts it again on the same port with the same data. */
  restart(o?: RestartOptions): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 120_000;
const STOP_GRACE_MS = 10_000;

// Started by python instead of `-m synapse.app.homeserver` directly: the same module
// run as __main__, after asking Linux to SIGTERM it if the test process dies, even by
// SIGKILL (where no "exit" handler runs).
const LAUNCHER = `
import ctypes, runpy, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
except Exception:
    pass
sys.argv = ["synapse.app.homeserver", "-c", sys.argv[1]]
runpy.run_module("synapse.app.homeserver", run_name="__main__", alter_sys=True)
`;

/** A signing key file in Synapse's format: "ed25519 <key id> <unpadded base64 seed>". */
function signingKey(): string {
  const der = generateKeyPairSync("ed25519").privateKey.export({ format: "der", type: "pkcs8" });
  const seed = der
    .subarray(der.length - 32)
    .toString("base64")
    .replace(/=+$/, "");
  const keyId = `a_${randomBytes(3).toString("hex").slice(0, 4)}`;
  return `ed25519 ${keyId} ${seed}\n`;
}

const UNLIMITED = { per_second: 1_000_000, burst_count: 1_000_000 };

function homeserverConfig(
  dir: string,
  serverName: string,
  port: number,
  sharedSecret: string,
  appservices: string[],
  o: StartSynapseOptions,
): Record<string, unknown> {
  return {
    server_name: serverName,
    public_baseurl: `http://127.0.0.1:${port}/`,
    report_stats: false,
    listeners: [
      {
        port,
        bind_addresses: ["127.0.0.1"],
        type: "http",
        tls: false,
        x_forwarded: false,
        resources: [{ names: ["client", "federation"], compress: false }],
      },
    ],
    database: { name: "sqlite3", args: { database: join(dir, "homeserver.db") } },
    log_config: join(dir, "log.config.yaml"),
    media_store_path: join(dir, "media_store"),
    signing_key_path: join(dir, "signing.key"),
    macaroon_secret_key: randomBytes(32).toString("hex"),
    form_secret: randomBytes(32).toString("hex"),
    registration_shared_secret: sharedSecret,
    enable_registration: true,
    enable_registration_without_verification: true,
    bcrypt_rounds: 4, // test passwords: hashing fast beats hashing hard
    trusted_key_servers: [],
    suppress_key_server_warning: true,
    url_preview_enabled: false,
    enable_metrics: false,
    presence: { enabled: false },
    use_frozen_dicts: false,
    app_service_config_files: appservices,
    experimental_features: { ...SYNAPSE_EXPERIMENTAL_FEATURES, ...o.experimentalFeatures },
    rc_message: UNLIMITED,
    rc_registration: UNLIMITED,
    rc_registration_token_validity: UNLIMITED,
    rc_login: { address: UNLIMITED, account: UNLIMITED, failed_attempts: UNLIMITED },
    rc_admin_redaction: UNLIMITED,
    rc_joins: { local: UNLIMITED, remote: UNLIMITED },
    rc_joins_per_room: UNLIMITED,
    rc_key_requests: UNLIMITED,
    rc_3pid_validation: UNLIMITED,
    rc_invites: { per_room: UNLIMITED, per_user: UNLIMITED, per_issuer: UNLIMITED },
    rc_third_party_invite: UNLIMITED,
    rc_media_create: UNLIMITED,
    rc_presence: { per_user: UNLIMITED },
    rc_delayed_event_mgmt: UNLIMITED,
    rc_room_creation: UNLIMITED,
    rc_reports: UNLIMITED,
    rc_user_directory: UNLIMITED,
    rc_profile: UNLIMITED,
    rc_federation: {
      window_size: 1000,
      sleep_limit: 1_000_000,
      sleep_delay: 0,
      reject_limit: 1_000_000,
      concurrent: 1000,
    },
    ...o.config,
  };
}

function logConfig(dir: string): Record<string, unknown> {
  return {
    version: 1,
    formatters: {
      precise: { format: "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s" },
    },
    handlers: {
      // Unbuffered, so the log tail in a startup error is complete.
      file: {
        class: "logging.FileHandler",
        formatter: "precise",
        filename: join(dir, "homeserver.log"),
        encoding: "utf8",
      },
    },
    root: { level: "INFO", handlers: ["file"] },
    disable_existing_loggers: false,
  };
}

// Instances still running, killed by the one "exit" handler if the test process exits.
const live = new Set<SynapseInstance>();
let exitHandlerInstalled = false;

function installExitHandler(): void {
  if (exitHandlerInstalled) return;
  exitHandlerInstalled = true;
  process.on("exit", () => {
    for (const instance of live) instance.killNow();
  });
}

class SynapseInstance implements SynapseHandle {
  url: string;
  adminToken?: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    readonly serverName: string,
    public port: number,
    private readonly python: string,
    private readonly sharedSecret: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get configPath(): string {
    return join(this.dir, "homeserver.yaml");
  }

  /** Starts the process and waits until the client API answers; throws with the logs if it can't. */
  async startProcess(): Promise<void> {
    const stdio = join(this.dir, "stdio.log");
    const fd = openSync(stdio, "a");
    let child: ChildProcess;
    try {
      child = spawn(this.python, ["-c", LAUNCHER, this.configPath], {
        cwd: this.dir,
        stdio: ["ignore", fd, fd],
        env: { ...process.env, PYTHONUNBUFFERED: "1" },
      });
    } finally {
      closeSync(fd);
    }
    this.child = child;
    live.add(this);
    let exitInfo: string | undefined;
    this.exited = new Promise((resolveExit) => {
      child.once("exit", (code, signal) => {
        exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        if (this.child === child) this.child = undefined;
        resolveExit();
      });
      child.once("error", (err) => {
        exitInfo = `could not be run: ${err.message}`;
        if (this.child === child) this.child = undefined;
        resolveExit();
      });
    });

    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    for (;;) {
      if (exitInfo !== undefined) throw this.startError(`Synapse ${exitInfo} while starting`);
      if (Date.now() > deadline) {
        await this.stopProcess("SIGKILL");
        throw this.startError(`Synapse did not answer within ${STARTUP_TIMEOUT_MS / 1000} s`);
      }
      try {
        const res = await fetch(`${this.url}/_matrix/client/versions`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
  }

  startError(reason: string): Error {
    const stdio = tail(join(this.dir, "stdio.log"), 30);
    const log = tail(join(this.dir, "homeserver.log"), 30);
    // The exception line ("KeyError: ...", "synapse.config._base.ConfigError: ...",
    // "Error in configuration at ...") says more than the traceback above it.
    const cause = `${log}\n${stdio}`
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => /^([\w.]*(Error|Exception)\b|Error in configuration)/.test(line))
      .pop();
    return new Error(
      `${reason}${cause ? `: ${cause}` : ""} (${this.url}, dir ${this.dir}` +
        `${KEEP_DIRS ? "" : ", removed on stop unless PEOPLE_TEST_KEEP_SYNAPSE=1"}).\n` +
        `--- stdout/stderr (last lines) ---\n${stdio}\n` +
        `--- homeserver.log (last lines) ---\n${log}`,
    );
  }

  async stopProcess(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
    const child = this.child;
    const exited = this.exited;
    if (!child || !exited) return;
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const graceful = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), STOP_GRACE_MS))),
    ]);
    clearTimeout(timer);
    if (!graceful) {
      child.kill("SIGKILL");
      await exited;
    }
    live.delete(this);
  }

  /** Synchronous last resort for the "exit" handler. */
  killNow(): void {
    try {
      this.child?.kill("SIGKILL");
    } catch {
      // already gone
    }
    if (!KEEP_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }

  async registerUser(localpart: string, password: string, o: { admin?: boolean } = {}): Promise<SynapseUser> {
    const endpoint = `${this.url}/_synapse/admin/v1/register`;
    const nonceRes = await fetch(endpoint);
    if (!nonceRes.ok) throw new Error(`GET ${endpoint}: ${nonceRes.status} ${await nonceRes.text()}`);
    const { nonce } = (await nonceRes.json()) as { nonce: string };
    const admin = o.admin ?? false;
    const mac = createHmac("sha1", this.sharedSecret)
      .update(`${nonce}\0${localpart}\0${password}\0${admin ? "admin" : "notadmin"}`)
      .digest("hex");
    const res = await fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ nonce, username: localpart, password, admin, mac }),
    });
    if (!res.ok) throw new Error(`registering ${localpart}: ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { user_id: string; access_token: string; device_id: string };
    return { userId: body.user_id, accessToken: body.access_token, deviceId: body.device_id };
  }

  async stop(): Promise<void> {
    await this.stopProcess("SIGTERM");
    if (!KEEP_DIRS) rmSync(this.dir, { recursive: true, force: true });
  }

  async restart(o: RestartOptions = {}): Promise<void> {
    await this.stopProcess(o.signal ?? "SIGTERM");
    await o.whileDown?.();
    await this.startProcess();
  }
}

/** Starts a Synapse in a fresh temp dir; installs it first if needed. */
export async function startSynapse(o: StartSynapseOptions = {}): Promise<SynapseHandle> {
  const serverName = o.serverName ?? "localhost";
  // Fail fast and clearly on a wrong path, before spending seconds on Python.
  const appservices = (o.appserviceRegistrations ?? []).map((p) => resolve(p));
  for (const p of appservices) {
    if (!existsSync(p)) throw new Error(`appservice registration file not found: ${p}`);
  }
  const python = await ensureSynapseInstalled();
  installExitHandler();

  const dir = await mkdtemp(join(tmpdir(), "people-synapse-"));
  if (!isAbsolute(dir)) throw new Error(`temp dir is not absolute: ${dir}`);
  writeFileSync(join(dir, "signing.key"), signingKey(), { mode: 0o600 });
  writeFileSync(join(dir, "log.config.yaml"), toYaml(logConfig(dir)));
  const sharedSecret = randomBytes(32).toString("hex");

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const instance = new SynapseInstance(dir, serverName, port, python, sharedSecret);
    writeFileSync(
      instance.configPath,
      toYaml(homeserverConfig(dir, serverName, port, sharedSecret, appservices, o)),
      { mode: 0o600 },
    );
    try {
      await instance.startProcess();
    } catch (err) {
      // The free port may have been taken between choosing and binding it.
      const portTaken = tail(join(dir, "homeserver.log"), 40).includes("Address already in use");
      if (portTaken && attempt < 3) {
        for (const log of ["homeserver.log", "stdio.log"]) rmSync(join(dir, log), { force: true });
        continue;
      }
      if (!KEEP_DIRS) rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    try {
      instance.adminToken = (
        await instance.registerUser("harness-admin", randomBytes(16).toString("hex"), { admin: true })
      ).accessToken;
    } catch (err) {
      await instance.stop();
      throw err;
    }
    return instance;
  }
}

/** Logs an existing user in with its password: a new device, as a second login of a client does. */
export async function loginUser(hs: SynapseHandle, userId: string, password: string): Promise<SynapseUser> {
  const res = await fetch(`${hs.url}/_matrix/client/v3/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      type: "m.login.password",
      identifier: { type: "m.id.user", user: userId },
      password,
    }),
  });
  if (!res.ok) throw new Error(`logging in ${userId}: ${res.status} ${await res.text()}`);
  const body = (await res.json()) as { user_id: string; access_token: string; device_id: string };
  return { userId: body.user_id, accessToken: body.access_token, deviceId: body.device_id };
}
