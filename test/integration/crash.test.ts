// Nothing acknowledged is lost: a writer streams envelopes while the server
// process is SIGKILLed and restarted again and again. Every envelope that got
// a 2xx must be in the mailbox afterwards, and none twice (the writer retries
// every envelope whose outcome it did not learn, so redelivery is exercised).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { HttpsClient } from "../../src/people/net/https-client.js";
import { openStore } from "../../src/store/index.js";
import { makeAccount, seal, type Account } from "../helpers/protocol-fixtures.js";
import { deviceUpload, envelopeKeyOf, type TestServer } from "../helpers/people-servers.js";
import { ENGINES } from "../helpers/stores.js";
import { testPostgres } from "../helpers/postgres.js";
import { freePort } from "../helpers/ports.js";

const KILLS = 10;
const ROOT = join(__dirname, "..", "..");

class ServerProcess {
  child?: ChildProcess;
  constructor(
    private readonly configPath: string,
    readonly url: string,
  ) {}

  async start(http: HttpsClient | undefined): Promise<void> {
    this.child = spawn(
      join(ROOT, "node_modules", ".bin", "node"),
      ["--import", "tsx", "src/people/server/main.ts", "-c", this.configPath],
      {
        cwd: ROOT,
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
    // Ready when its health endpoint answers (the certificate may not exist before the first start).
    for (const until = Date.now() + 180_000; Date.now() < until;) {
      await sleep(100);
      if (!http) return;
      try {
        const res = await http.send("GET", `${this.url}/_people/v1/health`);
        if (res.status === 200) return;
      } catch {
        // not up yet
      }
    }
    throw new Error("server did not come up");
  }

  kill(): Promise<void> {
    const child = this.child!;
    return new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  }
}

for (const engine of ENGINES) {
  describe(`crash safety: SIGKILL during ingest [${engine}]`, function () {
    this.timeout(300_000);

    it(`keeps every acknowledged envelope exactly once across ${KILLS} kills`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "people-crash-"));
      const port = await freePort();
      const database =
        engine === "sqlite"
          ? { engine, connection: "people.db" }
          : { engine, connection: await (await testPostgres()).createDatabase("crash") };
      const configPath = join(dir, "config.yaml");
      writeFileSync(
        configPath,
        stringify({
          people: {
            domain: "b.test",
            listen: { host: "127.0.0.1", port },
            data_dir: dir,
            database,
            registration: { mode: "open" },
            log: { level: "warn" },
          },
        }),
      );
      const proc = new ServerProcess(configPath, `https://127.0.0.1:${port}`);
      let http: HttpsClient | undefined;
      try {
        // First start makes the development certificate; then trust it.
        await proc.start(undefined);
        // A busy machine may take long to start it (tsx compiles first): wait for the file, generously.
        for (const until = Date.now() + 180_000; Date.now() < until;) {
          try {
            readFileSync(join(dir, "tls", "dev-cert.pem"));
            break;
          } catch {
            await sleep(100);
          }
        }
        http = new HttpsClient({
          ca: [readFileSync(join(dir, "tls", "dev-cert.pem"), "utf8")],
          timeoutMs: 5000,
        });
        await proc.kill();
        await proc.start(http);
        const target = { url: proc.url, http, domain: "b.test" } as unknown as TestServer;
        const joe: Account = makeAccount("joe@b.test", Date.now(), { devices: 1 });
        await http.json("POST", `${proc.url}/_people/v1/accounts`, {
          address: joe.address,
          ...deviceUpload(joe),
        });
        const key = await envelopeKeyOf(target);
        const jane = makeAccount("jane@a.test", Date.now(), { devices: 1 });

        const acknowledged = new Set<string>();
        let stop = false;
        let attempts = 0;
        const writer = async () => {
          while (!stop) {
            const copy = seal({
              from: jane,
              to: [joe.address],
              copies: [{ address: joe.address, devices: [joe.devices[0]!.head.encKey], server: key }],
              body: "m",
              now: Date.now(),
              ttlMs: 86_400_000,
            }).copies[0]!;
            // Retry the same bytes until the server says it has them.
            for (;;) {
              attempts += 1;
              try {
                const res = await http!.send("POST", `${proc.url}/_people/v1/envelopes`, {
                  headers: { "content-type": "application/octet-stream" },
                  body: copy.outer,
                });
                if (res.status === 200) {
                  acknowledged.add(copy.envelopeId);
                  break;
                }
                throw new Error(`unexpected status ${res.status}: ${res.body.toString()}`);
              } catch (err) {
                if (err instanceof Error && err.message.startsWith("unexpected status")) throw err;
                await sleep(50);
              }
            }
          }
        };
        const writers = Array.from({ length: 8 }, writer);
        for (let k = 0; k < KILLS; k++) {
          await sleep(300 + Math.floor(Math.random() * 400));
          await proc.kill();
          await proc.start(http);
        }
        await sleep(300);
        stop = true;
        await Promise.all(writers);
        await proc.kill();

        const store = await openStore(
          engine === "sqlite"
            ? { engine, connection: join(dir, "people.db") }
            : { engine, connection: database.connection },
        );
        try {
          const stored: string[] = [];
          for (let after = 0; ;) {
            const page = await store.mailbox.pending(joe.address, joe.devices[0]!.device, after, 500);
            if (page.length === 0) break;
            stored.push(...page.map((e) => e.envelopeId));
            after = page[page.length - 1]!.seq;
          }
          const distinct = new Set(stored);
          assert.equal(distinct.size, stored.length, "no envelope stored twice");
          const lost = [...acknowledged].filter((id) => !distinct.has(id));
          assert.deepEqual(lost, [], `${lost.length} acknowledged envelopes lost`);
          assert.ok(
            acknowledged.size >= 50,
            `only ${acknowledged.size} envelopes acknowledged in ${attempts} attempts`,
          );
          console.log(
            `      ${acknowledged.size} acknowledged, ${stored.length} stored, ${attempts} attempts, ${KILLS} kills`,
          );
        } finally {
          await store.close();
        }
      } finally {
        http?.close();
        await proc.kill().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
