// The `matrix-appservice-people` command as an admin runs it (a child process
// on src/bridge/bin.cjs): generating the registration, and the messages for
// the usual mistakes. No homeserver needed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join, resolve } from "node:path";
import { stringify as toYaml } from "yaml";
import { readRegistrationFile } from "../../src/bridge/registration.js";
import {
  BRIDGE_BIN,
  bridgeConfigInput,
  makeBridgeDir,
  runCli,
  writeConfigFile,
  type BridgeDir,
} from "../helpers/bridge-harness.js";

const ROOT = resolve(__dirname, "..", "..");

describe("matrix-appservice-people CLI", function () {
  this.timeout(180_000); // generous: Synapse on a busy 2-core machine; every wait ends when its condition holds
  let files: BridgeDir;

  before(function () {
    files = makeBridgeDir();
    writeConfigFile(
      files.configPath,
      bridgeConfigInput(files.dir, { homeserverUrl: "http://127.0.0.1:8008" }),
    );
  });
  after(() => files?.remove());

  it("generates registration.yaml with fresh tokens, mode 0600, and says what to add to homeserver.yaml", async function () {
    const result = await runCli(
      ["-r", "-u", "http://127.0.0.1:8090", "-f", "registration.yaml", "-c", "config.yaml"],
      files.dir,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(statSync(files.registrationPath).mode & 0o777, 0o600);
    const registration = readRegistrationFile(files.registrationPath);
    assert.equal(registration.url, "http://127.0.0.1:8090");
    assert.equal(registration.id, "people");
    assert.equal(registration.rate_limited, false);
    assert.equal(registration.receive_ephemeral, true);
    assert.equal(registration["de.sorunome.msc2409.push_ephemeral"], true);
    assert.equal(registration["org.matrix.msc3202"], true);
    assert.equal(registration["io.element.msc4190"], true);
    assert.ok(
      result.stdout.includes(`app_service_config_files:\n    - ${files.registrationPath}`),
      result.stdout,
    );
  });

  it("does not replace an existing registration without --force", async function () {
    const before = readFileSync(files.registrationPath, "utf8");
    const refused = await runCli(["-r", "-u", "http://127.0.0.1:8090", "-c", "config.yaml"], files.dir);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /already exists; not replacing it/);
    assert.equal(readFileSync(files.registrationPath, "utf8"), before);

    chmodSync(files.registrationPath, 0o644);
    const forced = await runCli(
      ["-r", "-u", "http://127.0.0.1:8090", "-c", "config.yaml", "--force"],
      files.dir,
    );
    assert.equal(forced.code, 0, forced.stderr);
    assert.notEqual(readFileSync(files.registrationPath, "utf8"), before);
    assert.equal(statSync(files.registrationPath).mode & 0o777, 0o600, "mode tightened again");
  });

  it("insists on -u when generating", async function () {
    const result = await runCli(["-r", "-f", "other.yaml", "-c", "config.yaml"], files.dir);
    assert.notEqual(result.code, 0);
    assert.match(result.stdout, /Missing --url/);
  });

  it("points to config.sample.yaml when config.yaml is missing", async function () {
    const empty = makeBridgeDir();
    try {
      const result = await runCli([], empty.dir);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /config\.yaml not found\. Copy config\.sample\.yaml/);
    } finally {
      empty.remove();
    }
  });

  it("names the key of a bad config value", async function () {
    const bad = join(files.dir, "bad.yaml");
    writeFileSync(
      bad,
      toYaml({
        ...bridgeConfigInput(files.dir, { homeserverUrl: "http://127.0.0.1:8008" }),
        metrics: { port: "x" },
      }),
    );
    const result = await runCli(["-c", bad, "-f", files.registrationPath], files.dir);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^config: metrics\.port: /m);
  });

  it("says how to generate the registration when it is missing", async function () {
    const result = await runCli(["-c", "config.yaml", "-f", "missing.yaml"], files.dir);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /missing\.yaml not found\. Generate it with `\S+(bin\.cjs|matrix-appservice-people) -r -u/,
    );
  });

  it("refuses a registration generated for another bot", async function () {
    const other = join(files.dir, "other-bot.yaml");
    writeFileSync(
      other,
      toYaml({ ...readRegistrationFile(files.registrationPath), sender_localpart: "someotherbot" }),
    );
    const result = await runCli(["-c", "config.yaml", "-f", other], files.dir);
    assert.equal(result.code, 2);
    // Found by startBridge, once the logger runs: a fatal line in the log's format (JSON on a pipe).
    const fatal = result.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .find((l) => l.level === 60);
    assert.match(
      fatal?.msg ?? result.stdout,
      /does not fit config\.yaml \(sender_localpart is "someotherbot"/,
    );
  });

  // The README's `npm ci && npm start` on a fresh machine: no config.yaml, no
  // registration.yaml. Uses the sample's fixed ports (8090, 9367, 7367).
  it("first start with no files: runs on the sample's defaults, writes registration.yaml, says what to add, keeps retrying while its People server serves", async function () {
    const fresh = makeBridgeDir();
    copyFileSync(join(ROOT, "config.sample.yaml"), join(fresh.dir, "config.sample.yaml"));
    const child = spawn(process.execPath, [BRIDGE_BIN], {
      cwd: fresh.dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
    const until = async (what: () => boolean | Promise<boolean>, label: string) => {
      for (let i = 0; i < 300; i++) {
        if (await what()) return;
        if (child.exitCode !== null)
          assert.fail(`the bridge exited (${child.exitCode}) before ${label}:\n${out}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`timed out waiting for ${label}:\n${out}`);
    };
    try {
      await until(() => /cannot reach the homeserver at http:\/\/localhost:8008/.test(out), "the retry log");
      assert.match(out, /config\.yaml not found: starting from config\.sample\.yaml's defaults/);
      const registrationPath = join(fresh.dir, "registration.yaml");
      assert.ok(out.includes(`app_service_config_files:\n    - ${registrationPath}`), out);
      assert.equal(statSync(registrationPath).mode & 0o777, 0o600);
      const registration = readRegistrationFile(registrationPath);
      assert.equal(registration.url, "http://127.0.0.1:8090");
      assert.equal(registration.sender_localpart, "peoplebot");
      assert.ok(existsSync(join(fresh.dir, "data", "bridge-secret.key")), "data under ./data");
      // Not connected: /health says so; the People server of `localhost` answers meanwhile.
      const health = await fetch("http://127.0.0.1:9367/health");
      assert.equal(health.status, 503);
      await until(async () => (await peopleHealth()) === 200, "the People server's health");
    } finally {
      child.kill("SIGTERM");
      assert.equal(await exited, 0, out);
      fresh.remove();
    }
  });
});

/** GET /_people/v1/health of the sample's People server (its development certificate is not trusted here). */
function peopleHealth(): Promise<number> {
  return new Promise((done) => {
    const req = request(
      { host: "127.0.0.1", port: 7367, path: "/_people/v1/health", rejectUnauthorized: false },
      (res) => {
        res.resume();
        done(res.statusCode ?? 0);
      },
    );
    req.on("error", () => done(0));
    req.end();
  });
}
