// The bridge as a process an admin or a supervisor runs: every documented way
// to start it stops on SIGTERM/SIGINT with nothing left behind, the `-r` hint
// names a command that works as written, a port already in use names its
// config key, data files are private, and the People server's counters are on
// the private metrics listener, not its public port. No homeserver needed (the
// bridge runs and keeps retrying while the homeserver cannot be reached).
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { request } from "node:https";
import { delimiter, join, resolve } from "node:path";
import {
  BRIDGE_BIN,
  bridgeConfigInput,
  makeBridgeDir,
  runCli,
  writeConfigFile,
  type BridgeDir,
} from "../helpers/bridge-harness.js";
import { freePort } from "../helpers/ports.js";
import type { BridgeConfigInput } from "../../src/bridge/config.js";

const ROOT = resolve(__dirname, "..", "..");

/** PATH as a login shell has it: without the node_modules/.bin that npm and mocha put first. */
const SHELL_PATH = (process.env.PATH ?? "")
  .split(delimiter)
  .filter((dir) => !dir.includes(`node_modules${"/"}.bin`))
  .join(delimiter);

interface Ports {
  appservice: number;
  people: number;
  metrics: number;
}

async function freePorts(): Promise<Ports> {
  return { appservice: await freePort(), people: await freePort(), metrics: await freePort() };
}

/** A bridge directory whose config names a homeserver nobody answers at, and fixed ports. */
async function bridgeDir(ports: Ports, change: (i: BridgeConfigInput) => BridgeConfigInput = (i) => i) {
  const files = makeBridgeDir();
  const base = bridgeConfigInput(files.dir, {
    homeserverUrl: "http://127.0.0.1:9",
    appservicePort: ports.appservice,
  });
  writeConfigFile(
    files.configPath,
    change({
      ...base,
      logging: { level: "info" },
      metrics: { enabled: true, hostname: "127.0.0.1", port: ports.metrics },
      people: { ...base.people!, listen: { host: "127.0.0.1", port: ports.people } },
    }),
  );
  const generated = await runCli(
    [
      "-r",
      "-u",
      `http://127.0.0.1:${ports.appservice}`,
      "-f",
      files.registrationPath,
      "-c",
      files.configPath,
    ],
    files.dir,
  );
  assert.equal(generated.code, 0, generated.stderr);
  return { files, hint: generated.stdout };
}

interface Running {
  proc: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  closed: Promise<void>;
}

function run(command: string, args: string[], cwd: string, group = false): Running {
  const proc = spawn(command, args, {
    cwd,
    detached: group,
    env: { ...process.env, PATH: SHELL_PATH },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    proc.on("exit", (code, signal) => done({ code, signal })),
  );
  // "close": every holder of the pipes (the bridge below a wrapper too) has closed them.
  const closed = new Promise<void>((done) => proc.on("close", () => done()));
  return { proc, output: () => out, exited, closed };
}

async function until(what: () => boolean | Promise<boolean>, label: string, r?: Running): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await what()) return;
    if (r && r.proc.exitCode !== null)
      assert.fail(`exited (${r.proc.exitCode}) before ${label}:\n${r.output()}`);
    await new Promise((done) => setTimeout(done, 100));
  }
  assert.fail(`timed out waiting for ${label}${r ? `:\n${r.output()}` : ""}`);
}

/** Every process below `pid` (children, grandchildren…), from ps. */
function descendants(pid: number): number[] {
  const table = execFileSync("ps", ["-e", "-o", "pid=,ppid="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/).map(Number) as [number, number]);
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [child, ppid] of table) {
      if (ppid === parent && !found.includes(child)) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !isZombie(pid);
function isZombie(pid: number): boolean {
  try {
    return /\) Z /.test(execFileSync("cat", [`/proc/${pid}/stat`], { encoding: "utf8" }));
  } catch {
    return false;
  }
}

/** GET a path of the bridge's People server (its development certificate is not trusted here). */
function peopleGet(port: number, path: string): Promise<number> {
  return new Promise((done) => {
    const req = request({ host: "127.0.0.1", port, path, rejectUnauthorized: false }, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    });
    req.on("error", () => done(0));
    req.end();
  });
}

const started = (r: Running) => () => r.output().includes('"msg":"bridge started"');

describe("the bridge as a process (signals, ports, files, metrics)", function () {
  this.timeout(180_000);
  const dirs: BridgeDir[] = [];
  const procs: Running[] = [];
  after(() => {
    for (const r of procs) if (r.proc.exitCode === null) r.proc.kill("SIGKILL");
    for (const d of dirs) d.remove();
  });

  async function startForm(command: string, args: string[], cwd: (dir: string) => string, group = false) {
    const { files, hint } = await bridgeDir(await freePorts());
    dirs.push(files);
    const r = run(
      command,
      [...args, "-c", files.configPath, "-f", files.registrationPath],
      cwd(files.dir),
      group,
    );
    procs.push(r);
    await until(started(r), "the bridge started", r);
    return { files, hint, r };
  }

  async function stopsWithTree(r: Running, signal: NodeJS.Signals, group = false, wrapped = true) {
    const tree = [r.proc.pid!, ...descendants(r.proc.pid!)];
    if (wrapped) assert.ok(tree.length >= 2, "a bridge below the command");
    if (group) process.kill(-r.proc.pid!, signal);
    else r.proc.kill(signal);
    const exit = await r.exited;
    assert.ok(exit.code === 0 || exit.signal === signal, `exit ${JSON.stringify(exit)}:\n${r.output()}`);
    await until(() => tree.every((pid) => !alive(pid)), `every process of [${tree.join(", ")}] gone`);
    // Its last lines may still be in the pipe when the processes are gone: read it to its end.
    await r.closed;
    assert.match(r.output(), /"msg":"bridge stopped"/, "the bridge itself stopped cleanly");
  }

  const forms: [string, string, string[], (dir: string) => string][] = [
    ["npm start", "npm", ["start", "--"], () => ROOT],
    ["npx matrix-appservice-people", "npx", ["matrix-appservice-people"], () => ROOT],
    // What node_modules/.bin/matrix-appservice-people links to where the package is a
    // dependency, run by the shell's `node` (older than 22 here: it starts Node.js 22 as a child).
    ["src/bridge/bin.cjs (the bin)", BRIDGE_BIN, [], (dir) => dir],
  ];
  for (const [name, command, args, cwd] of forms) {
    it(`${name}: SIGTERM stops every process it started`, async function () {
      const { r } = await startForm(command, args, cwd);
      await stopsWithTree(r, "SIGTERM");
    });
  }

  // Ctrl-C: the terminal sends SIGINT to the whole foreground process group. (npm passes a
  // SIGINT sent to its pid alone to its `sh -c` only, which waits for the bridge: nothing
  // the bridge can see; supervisors send SIGTERM, above.)
  it("npx matrix-appservice-people: Ctrl-C (SIGINT to its process group) stops everything", async function () {
    const { r } = await startForm("npx", ["matrix-appservice-people"], () => ROOT, true);
    await stopsWithTree(r, "SIGINT", true);
  });

  it("the -r hint names a command that starts the bridge as written (from where -r ran), and SIGTERM stops it", async function () {
    const { files, hint } = await bridgeDir(await freePorts());
    dirs.push(files);
    const line = hint
      .split("\n")
      .map((l) => l.trim())
      .find((l) => l.includes(" -c ") && l.includes(" -f "));
    assert.ok(line, hint);
    assert.doesNotMatch(line, /^matrix-appservice-people /, "the bare name is on no PATH");
    const r = run("sh", ["-c", `exec ${line}`], files.dir);
    procs.push(r);
    await until(started(r), "the bridge started from the hint", r);
    await stopsWithTree(r, "SIGTERM");
  });

  it("logging.format: pretty writes readable lines", async function () {
    const { files } = await bridgeDir(await freePorts(), (i) => ({
      ...i,
      logging: { level: "info", format: "pretty" },
    }));
    dirs.push(files);
    const r = run(
      process.execPath,
      [BRIDGE_BIN, "-c", files.configPath, "-f", files.registrationPath],
      files.dir,
    );
    procs.push(r);
    await until(() => /INFO.*bridge started/.test(r.output()), "a pretty 'bridge started' line", r);
    assert.ok(!r.output().includes('"msg":'), r.output());
    r.proc.kill("SIGTERM");
    assert.equal((await r.exited).code, 0);
  });

  describe("one bridge started on a fresh directory (with encryption.allow)", function () {
    let ports: Ports;
    let files: BridgeDir;
    let bridge: Running;

    before(async function () {
      ports = await freePorts();
      ({ files } = await bridgeDir(ports, (i) => ({
        ...i,
        encryption: { allow: true },
        logging: { level: "debug", format: "auto" },
      })));
      dirs.push(files);
      bridge = run(
        process.execPath,
        [BRIDGE_BIN, "-c", files.configPath, "-f", files.registrationPath],
        files.dir,
      );
      procs.push(bridge);
      await until(started(bridge), "the bridge started", bridge);
    });
    after(async function () {
      if (bridge.proc.exitCode === null) await stopsWithTree(bridge, "SIGTERM", false, false);
    });

    it("made its data directory 0700 and its databases (with -wal, -shm), keys and registration 0600", function () {
      const data = join(files.dir, "data");
      const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);
      assert.equal(mode(data), "700", data);
      assert.equal(mode(join(data, "tls")), "700", "tls");
      const privateFiles = [
        "bridge.db",
        "bridge.db-wal",
        "bridge.db-shm",
        "people.db",
        "people.db-wal",
        "people.db-shm",
        "bridge-secret.key",
        "crypto-store.key",
      ];
      for (const name of privateFiles) assert.equal(mode(join(data, name)), "600", name);
      assert.equal(mode(files.registrationPath), "600", "registration.yaml");
    });

    it("serves no /metrics on the People server's public port; the metrics listener has its counters", async function () {
      assert.equal(await peopleGet(ports.people, "/_people/v1/health"), 200, "the public port answers");
      assert.equal(await peopleGet(ports.people, "/metrics"), 404);
      const text = await (await fetch(`http://127.0.0.1:${ports.metrics}/metrics`)).text();
      assert.match(text, /^people_envelopes_accepted_total \d+/m);
      assert.match(text, /^people_mailbox_depth 0$/m, "read at the scrape");
      assert.match(text, /^bridge_homeserver_connected 0$/m);
    });

    it("logs one shape on a pipe (auto: JSON), matrix-appservice-bridge's lines included", async function () {
      // A request the library answers itself (and logs) before any handler of ours.
      const refused = await fetch(
        `http://127.0.0.1:${ports.appservice}/_matrix/app/v1/users/@_people_x:localhost?access_token=wrong`,
      );
      assert.equal(refused.status, 403);
      await until(() => /GET \/_matrix\/app\/v1\/users/.test(bridge.output()), "the library's request line");
      const lines = bridge
        .output()
        .split("\n")
        .filter((l) => l.trim() !== "");
      const foreign = lines.filter((l) => {
        try {
          const o = JSON.parse(l) as Record<string, unknown>;
          return !(o.service === "matrix-appservice-people" && typeof o.level === "number" && "msg" in o);
        } catch {
          return !/DeprecationWarning|--trace-deprecation/.test(l);
        }
      });
      assert.deepEqual(foreign, [], "every line is ours");
      assert.ok(!bridge.output().includes("access_token=wrong"), "the token is not logged");
    });

    for (const key of ["appservice.port", "people.listen.port", "metrics.port"] as const) {
      it(`exits 2 naming ${key} when its port is in use, in the log's format`, async function () {
        const taken = { ...(await freePorts()) };
        if (key === "appservice.port") taken.appservice = ports.appservice;
        if (key === "people.listen.port") taken.people = ports.people;
        if (key === "metrics.port") taken.metrics = ports.metrics;
        const second = await bridgeDir(taken);
        dirs.push(second.files);
        const r = run(
          process.execPath,
          [BRIDGE_BIN, "-c", second.files.configPath, "-f", second.files.registrationPath],
          second.files.dir,
        );
        procs.push(r);
        const exit = await r.exited;
        assert.equal(exit.code, 2, r.output());
        const fatal = r
          .output()
          .split("\n")
          .filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l) as { level: number; msg: string; config_key?: string })
          .find((l) => l.level === 60);
        assert.ok(fatal, r.output());
        assert.equal(fatal.config_key, key);
        assert.match(
          fatal.msg,
          new RegExp(`^config: ${key.replace(/\./g, "\\.")}: port \\d+ on 127\\.0\\.0\\.1 is already in use`),
        );
        assert.doesNotMatch(r.output(), /^\s+at /m, "no stack trace");
      });
    }
  });
});
