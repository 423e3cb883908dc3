// A People domain on several processes for tests and `npm run bench -- server`:
// the real `people-server` command N times on one PostgreSQL database, with
// one TLS certificate made beforehand (every process serves the same one),
// one shared blob directory, and cluster.enabled.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { HttpsClient } from "../../src/people/net/https-client.js";
import { createLogger } from "../../src/people/server/logger.js";
import { loadTls } from "../../src/people/server/tls.js";
import { freePort } from "./ports.js";

const ROOT = join(__dirname, "..", "..");

export class ServerProcess {
  child: ChildProcess | undefined;
  constructor(
    readonly configPath: string,
    readonly port: number,
  ) {}

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** Start the real command; resolves once its health endpoint answers. */
  async start(http: HttpsClient): Promise<void> {
    const child = spawn(
      join(ROOT, "node_modules", ".bin", "node"),
      ["--import", "tsx", "src/people/server/main.ts", "-c", this.configPath],
      { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] },
    );
    this.child = child;
    for (const until = Date.now() + 180_000; Date.now() < until;) {
      if (child.exitCode !== null) throw new Error(`people-server exited with ${child.exitCode}`);
      try {
        if ((await http.send("GET", `${this.url}/_people/v1/health`)).status === 200) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("people-server did not come up");
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    return new Promise((resolve) => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill(signal);
    });
  }
}

export interface ServerCluster {
  domain: string;
  processes: ServerProcess[];
  /** Trusts the domain's certificate. */
  http: HttpsClient;
  certificate: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startServerCluster(o: {
  domain: string;
  processes: number;
  /** PostgreSQL connection string of an empty database. */
  database: string;
  /** Extra keys of the `people:` section. */
  people?: Record<string, unknown>;
}): Promise<ServerCluster> {
  const dir = mkdtempSync(join(tmpdir(), "people-cluster-"));
  // One certificate for the domain, made once, named in every process's config.
  const tlsDir = join(dir, "shared");
  const tls = await loadTls({ dataDir: tlsDir, domain: o.domain }, createLogger("silent"));
  const blobs = join(dir, "shared", "blobs");
  mkdirSync(blobs, { recursive: true });
  const processes: ServerProcess[] = [];
  for (let i = 0; i < o.processes; i++) {
    const port = await freePort();
    const configPath = join(dir, `p${i + 1}.yaml`);
    writeFileSync(
      configPath,
      stringify({
        people: {
          domain: o.domain,
          listen: { host: "127.0.0.1", port, ...(o.people?.listen as object | undefined) },
          data_dir: join(dir, `p${i + 1}`),
          tls: { cert: join(tlsDir, "tls", "dev-cert.pem"), key: join(tlsDir, "tls", "dev-key.pem") },
          database: { engine: "postgres", connection: o.database },
          cluster: { enabled: true, ...(o.people?.cluster as object | undefined) },
          storage: { blobs_dir: blobs },
          registration: { mode: "open" },
          log: { level: "warn" },
          ...withoutKeys(o.people ?? {}, ["listen", "cluster"]),
        },
      }),
    );
    processes.push(new ServerProcess(configPath, port));
  }
  const http = new HttpsClient({ ca: [tls.cert], timeoutMs: 10_000, maxSockets: 64 });
  try {
    // One at a time: the first migrates the empty database.
    for (const p of processes) await p.start(http);
  } catch (err) {
    await Promise.all(processes.map((p) => p.kill()));
    http.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    domain: o.domain,
    processes,
    http,
    certificate: tls.cert,
    dir,
    async stop() {
      http.close();
      await Promise.all(processes.map((p) => p.kill("SIGTERM")));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function withoutKeys(o: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
}
