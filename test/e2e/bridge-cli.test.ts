// The `matrix-appservice-people` command as an admin runs it (a child process
// on src/bridge/bin.cjs): generating the registration, and the messages for
// the usual mistakes. No homeserver needed.
import assert from "node:assert/strict";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify as toYaml } from "yaml";
import { readRegistrationFile } from "../../src/bridge/registration.js";
import {
  bridgeConfigInput,
  makeBridgeDir,
  runCli,
  writeConfigFile,
  type BridgeDir,
} from "../helpers/bridge-harness.js";

describe("matrix-appservice-people CLI", function () {
  this.timeout(60_000);
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
    assert.match(result.stderr, /missing\.yaml not found\. Generate it with `matrix-appservice-people -r -u/);
  });

  it("refuses a registration generated for another bot", async function () {
    const other = join(files.dir, "other-bot.yaml");
    writeFileSync(
      other,
      toYaml({ ...readRegistrationFile(files.registrationPath), sender_localpart: "someotherbot" }),
    );
    const result = await runCli(["-c", "config.yaml", "-f", other], files.dir);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /does not fit config\.yaml \(sender_localpart is "someotherbot"/);
  });
});
