// A real PostgreSQL for the tests, started by the test run itself so that
// `npm test` behaves the same on a developer machine and in CI.
//
// PEOPLE_TEST_POSTGRES_URL (a superuser connection string) uses an existing
// server. Otherwise the newest /usr/lib/postgresql/*/bin is used to initdb a
// throwaway cluster in a temp dir and start it on 127.0.0.1 at a free port.
// It starts lazily, once per run, on the first test that asks for it, and is
// stopped by the root hook (test/helpers/root-hooks.ts) when mocha ends.

import { freePort } from "./ports.js";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { chown, mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import knex from "knex";

const execFileAsync = promisify(execFile);

export interface TestPostgres {
  /** Creates an empty database and returns its connection string. */
  createDatabase(prefix: string): Promise<string>;
}

interface Cluster extends TestPostgres {
  stop(): Promise<void>;
}

let cluster: Promise<Cluster> | undefined;

/** The run's PostgreSQL, started on first use. */
export function testPostgres(): Promise<TestPostgres> {
  cluster ??= process.env.PEOPLE_TEST_POSTGRES_URL
    ? Promise.resolve(externalServer(process.env.PEOPLE_TEST_POSTGRES_URL))
    : startCluster();
  return cluster;
}

/** Stops the cluster (or drops the databases made on an external server); a no-op if none was started. */
export async function stopTestPostgres(): Promise<void> {
  const started = cluster;
  cluster = undefined;
  if (!started) return;
  let c: Cluster;
  try {
    c = await started;
  } catch {
    return; // it never started: nothing to stop
  }
  await c.stop();
}

let dbCounter = 0;

function databaseName(prefix: string): string {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .slice(0, 30);
  return `people_${clean}_${process.pid}_${++dbCounter}`;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function createDatabaseAt(adminUrl: string, name: string): Promise<void> {
  const admin = knex({ client: "pg", connection: adminUrl, pool: { min: 0, max: 1 } });
  try {
    await admin.raw("create database ??", [name]);
  } finally {
    await admin.destroy();
  }
}

function externalServer(adminUrl: string): Cluster {
  const created: string[] = [];
  return {
    async createDatabase(prefix) {
      const name = databaseName(prefix);
      await createDatabaseAt(adminUrl, name);
      created.push(name);
      return withDatabase(adminUrl, name);
    },
    async stop() {
      const admin = knex({ client: "pg", connection: adminUrl, pool: { min: 0, max: 1 } });
      try {
        for (const name of created) await admin.raw("drop database if exists ?? with (force)", [name]);
      } finally {
        await admin.destroy();
      }
    },
  };
}

/** The bin dir of the highest installed PostgreSQL major version. */
function findBinDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  const newest = versions[0];
  if (newest === undefined) {
    throw new Error(
      "PostgreSQL tests need PostgreSQL server binaries (initdb, pg_ctl, postgres under /usr/lib/postgresql/*/bin). " +
        "Install them with `apt-get install -y postgresql`, or set PEOPLE_TEST_POSTGRES_URL to a superuser " +
        "connection string of a running server.",
    );
  }
  return join(root, newest, "bin");
}

async function startCluster(): Promise<Cluster> {
  const bin = findBinDir();
  // PostgreSQL refuses to run as root: as root, run its tools as the postgres user.
  const asRoot = process.getuid?.() === 0;
  const command = (tool: string, args: string[]): [string, string[]] =>
    asRoot ? ["runuser", ["-u", "postgres", "--", join(bin, tool), ...args]] : [join(bin, tool), args];
  const run = async (tool: string, args: string[]): Promise<void> => {
    const [file, argv] = command(tool, args);
    await execFileAsync(file, argv, { timeout: 120_000 });
  };

  const dir = await mkdtemp(join(tmpdir(), "people-pg-"));
  // pg_ctl passes -o through a shell; keep the path free of anything to quote.
  if (!/^[\w./-]+$/.test(dir)) throw new Error(`temp dir path unsuitable for pg_ctl: ${dir}`);
  const dataDir = join(dir, "data");
  const logFile = join(dir, "postgres.log");
  let stopped = false;
  const stopNow = (): void => {
    if (stopped) return;
    stopped = true;
    if (existsSync(join(dataDir, "postmaster.pid"))) {
      try {
        const [file, argv] = command("pg_ctl", ["-D", dataDir, "-m", "immediate", "-w", "stop"]);
        execFileSync(file, argv, { stdio: "ignore", timeout: 30_000 });
      } catch {
        // best effort: the process is exiting
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Fallback if the run ends without the root hook (e.g. the file was run alone).
  process.once("exit", stopNow);

  try {
    if (asRoot) {
      const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
      const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
      await chown(dir, uid, gid);
      await mkdir(dataDir, { mode: 0o700 });
      await chown(dataDir, uid, gid);
    }
    await run("initdb", [
      "-D",
      dataDir,
      "-U",
      "postgres",
      "--auth=trust",
      "--encoding=UTF8",
      "--no-locale",
      "--no-sync",
    ]);

    let url: string | undefined;
    for (let attempt = 1; url === undefined; attempt++) {
      const port = await freePort();
      const settings = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c fsync=on`;
      try {
        await run("pg_ctl", ["-D", dataDir, "-l", logFile, "-o", settings, "-w", "-t", "60", "start"]);
        url = `postgres://postgres@127.0.0.1:${port}/postgres`;
      } catch (err) {
        // Most likely the port was taken between choosing and binding it.
        if (attempt >= 3) {
          const log = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-4000) : "(no log)";
          throw new Error(`PostgreSQL did not start: ${String(err)}\n${log}`);
        }
      }
    }
    await waitForConnections(url);

    const adminUrl = url;
    return {
      async createDatabase(prefix) {
        const name = databaseName(prefix);
        await createDatabaseAt(adminUrl, name);
        return withDatabase(adminUrl, name);
      },
      async stop() {
        process.removeListener("exit", stopNow);
        if (stopped) return;
        stopped = true;
        try {
          await run("pg_ctl", ["-D", dataDir, "-m", "fast", "-w", "stop"]);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  } catch (err) {
    stopNow();
    process.removeListener("exit", stopNow);
    throw err;
  }
}

/** pg_ctl -w already waits; this also proves a TCP client gets through. */
async function waitForConnections(url: string): Promise<void> {
  const deadline = Date.now() + 60_000; // a busy machine may take a while
  for (;;) {
    const probe = knex({ client: "pg", connection: url, pool: { min: 0, max: 1 } });
    try {
      await probe.raw("select 1");
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL does not accept connections: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await probe.destroy();
    }
  }
}
