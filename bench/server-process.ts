// A People server in its own process for benchmarks, so the load generator in
// this process does not share its event loop.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { HttpsClient } from "../src/people/net/https-client.js";
import { freePort } from "../test/helpers/ports.js";

const ROOT = join(__dirname, "..");

export class BenchServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly dir: string,
    readonly http: HttpsClient,
    readonly certificate: string,
  ) {}

  static async start(domain: string, people: Record<string, unknown> = {}): Promise<BenchServer> {
    const dir = mkdtempSync(join(tmpdir(), "people-bench-"));
    const port = await freePort();
    const configPath = join(dir, "config.yaml");
    writeFileSync(
      configPath,
      stringify({
        people: {
          domain,
          listen: { host: "127.0.0.1", port },
          data_dir: dir,
          registration: { mode: "open" },
          log: { level: "warn" },
          diagnostics: { noop_endpoint: true },
          limits: { ingest_per_minute_per_ip: 100_000_000, ingest_per_minute_per_recipient: 100_000_000 },
          ...people,
        },
      }),
    );
    const child = spawn(
      join(ROOT, "node_modules", ".bin", "node"),
      ["--import", "tsx", "src/people/server/main.ts", "-c", configPath],
      {
        cwd: ROOT,
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
    const url = `https://127.0.0.1:${port}`;
    for (let i = 0; i < 300; i++) {
      await sleep(100);
      let cert: string;
      try {
        cert = readFileSync(join(dir, "tls", "dev-cert.pem"), "utf8");
      } catch {
        continue;
      }
      const http = new HttpsClient({ ca: [cert], maxSockets: 64 });
      try {
        if ((await http.send("GET", `${url}/_people/v1/health`)).status === 200)
          return new BenchServer(child, url, dir, http, cert);
      } catch {
        // not up yet
      }
      http.close();
    }
    child.kill("SIGKILL");
    throw new Error("bench server did not start");
  }

  /** A gauge or counter from the server's /metrics. */
  async metric(name: string): Promise<number> {
    const text = (await this.http.send("GET", `${this.url}/metrics`)).body.toString();
    const m = new RegExp(`^${name} ([0-9.e+]+)$`, "m").exec(text);
    if (!m) throw new Error(`metric ${name} not found`);
    return Number(m[1]);
  }

  async stop(): Promise<void> {
    this.http.close();
    await new Promise<void>((resolve) => {
      this.child.once("exit", () => resolve());
      this.child.kill("SIGTERM");
    });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
