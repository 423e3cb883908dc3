// The `people` program remembers --pin and --ca per data directory: given at
// init, they are not needed again; a failed command remembers nothing; a later
// --pin replaces a forgotten or changed one; `people config` shows them. So
// are --socks and --tor-all (test/integration/tor.test.ts sends through a real
// Tor with them remembered).
// bin/people spawned as a user runs it, against two real People servers.
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { PASSPHRASE, removeTempDirs, tempDir } from "../helpers/client-fixtures.js";
import { freePort } from "../helpers/ports.js";
import { ROOT, runProgram, type ProgramResult } from "../helpers/run-program.js";

const BIN = join(ROOT, "bin", "people");

type Result = ProgramResult;

function people(args: string[]): Promise<Result> {
  return runProgram(BIN, args, { env: { PEOPLE_PASSPHRASE: PASSPHRASE } });
}

function ok(r: Result): Result {
  assert.equal(r.code, 0, `exit code 0 expected; stderr: ${r.stderr}`);
  return r;
}

describe("people remembers --pin and --ca per data directory", function () {
  // Each command is a process of its own: slow on a loaded machine.
  this.timeout(300_000);
  let a: TestServer;
  let b: TestServer;
  const pin: Record<string, string> = {};
  const ca: Record<string, string> = {};
  let janeDir: string;
  let joeDir: string;

  before(async () => {
    [a, b] = await Promise.all([startTestServer("a.test"), startTestServer("b.test")]);
    const dir = tempDir("settings-certs");
    for (const s of [a, b]) {
      ca[s.domain] = join(dir, `${s.domain}.pem`);
      writeFileSync(ca[s.domain]!, s.handle.certificate);
      pin[s.domain] = `${s.domain}=127.0.0.1:${s.handle.port}`;
    }
    janeDir = tempDir("settings-jane");
    joeDir = tempDir("settings-joe");
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    removeTempDirs();
  });

  it("a failed init remembers nothing", async () => {
    const dir = join(tempDir("settings-failed"), "device");
    const r = await people([
      "--data",
      dir,
      "--pin",
      "a.test=127.0.0.1:1",
      "--ca",
      ca["a.test"]!,
      "init",
      "amy@a.test",
    ]);
    assert.equal(r.code, 1);
    assert.equal(existsSync(join(dir, "settings.json")), false);
  });

  it("given at init, --pin and --ca are not needed by send and inbox", async () => {
    const network = [
      "--pin",
      pin["a.test"]!,
      "--pin",
      pin["b.test"]!,
      "--ca",
      ca["a.test"]!,
      "--ca",
      ca["b.test"]!,
    ];
    ok(await people(["--data", janeDir, ...network, "init", "jane@a.test"]));
    ok(
      await people(["--data", joeDir, "--pin", pin["b.test"]!, "--ca", ca["b.test"]!, "init", "joe@b.test"]),
    );
    const file = join(janeDir, "settings.json");
    assert.equal(statSync(file).mode & 0o777, 0o600);
    // Joe's device learns about a.test on a later command, and remembers it too.
    ok(await people(["--data", joeDir, "--pin", pin["a.test"]!, "--ca", ca["a.test"]!, "inbox"]));

    ok(await people(["--data", janeDir, "send", "joe@b.test", "no flags needed"]));
    const inbox = JSON.parse(ok(await people(["--data", joeDir, "--json", "inbox"])).stdout) as {
      text?: string;
    }[];
    assert.ok(inbox.some((m) => m.text === "no flags needed"));

    const shown = JSON.parse(ok(await people(["--data", janeDir, "--json", "config"])).stdout) as {
      pins: Record<string, string>;
      ca: { fingerprint: string; subject: string }[];
    };
    assert.deepEqual(shown.pins, {
      "a.test": pin["a.test"]!.split("=")[1],
      "b.test": pin["b.test"]!.split("=")[1],
    });
    assert.equal(shown.ca.length, 2);
    assert.match(shown.ca[0]!.fingerprint, /^[0-9a-f]{16}$/);
    const human = ok(await people(["--data", janeDir, "config"])).stdout;
    assert.match(human, /^DOMAIN +SERVER$/m);
    assert.match(human, /^a\.test +127\.0\.0\.1:\d+$/m);
  });

  it("a failed command changes nothing remembered; a later --pin replaces one, and unpin forgets it", async () => {
    const file = join(janeDir, "settings.json");
    const before = readFileSync(file, "utf8");
    const wrong = await people(["--data", janeDir, "--pin", "a.test=127.0.0.1:1", "inbox", "--limit", "1"]);
    assert.equal(wrong.code, 1, "inbox cannot reach the own server");
    assert.equal(readFileSync(file, "utf8"), before, "the bad pin was not remembered");

    // send succeeds by queueing when the recipient's server does not answer: the pin it was given is
    // remembered (the user said so), and a later --pin replaces it; the queued message then goes.
    ok(
      await people([
        "--data",
        janeDir,
        "--pin",
        "b.test=127.0.0.1:1",
        "send",
        "--timeout",
        "1s",
        "joe@b.test",
        "queued",
      ]),
    );
    const port1 = JSON.parse(ok(await people(["--data", janeDir, "--json", "config"])).stdout) as {
      pins: Record<string, string>;
    };
    assert.equal(port1.pins["b.test"], "127.0.0.1:1");
    ok(await people(["--data", janeDir, "--pin", pin["b.test"]!, "send", "joe@b.test", "pinned again"]));
    ok(await people(["--data", janeDir, "send", "joe@b.test", "and remembered"]));
    const texts = (
      JSON.parse(ok(await people(["--data", joeDir, "--json", "inbox"])).stdout) as { text?: string }[]
    ).map((m) => m.text);
    for (const t of ["queued", "pinned again", "and remembered"])
      assert.ok(texts.includes(t), `${t}: ${texts.join(", ")}`);

    const forgot = ok(await people(["--data", janeDir, "config", "unpin", "b.test"]));
    assert.match(forgot.stdout, /^Forgot the pin of b\.test/);
    const unknown = await people(["--data", janeDir, "config", "unpin", "b.test"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no --pin is remembered for this domain/);
    const shown = JSON.parse(ok(await people(["--data", janeDir, "--json", "config"])).stdout) as {
      pins: Record<string, string>;
    };
    assert.deepEqual(Object.keys(shown.pins), ["a.test"]);
  });

  it("untrust forgets a certificate; a damaged settings file is a clear error naming it", async () => {
    const shown = JSON.parse(ok(await people(["--data", joeDir, "--json", "config"])).stdout) as {
      ca: { fingerprint: string }[];
    };
    assert.equal(shown.ca.length, 2);
    ok(await people(["--data", joeDir, "config", "untrust", shown.ca[1]!.fingerprint]));
    const after = JSON.parse(ok(await people(["--data", joeDir, "--json", "config"])).stdout) as {
      ca: { fingerprint: string }[];
    };
    assert.deepEqual(
      after.ca.map((c) => c.fingerprint),
      [shown.ca[0]!.fingerprint],
    );

    writeFileSync(join(joeDir, "settings.json"), "{not json");
    const r = await people(["--data", joeDir, "inbox"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /settings\.json: is not a valid settings file; fix it or remove it/);
  });

  it("remembers --socks and --tor-all: later commands use the proxy until `config forget-tor`", async () => {
    // A proxy nobody listens on: whatever goes through it fails, so the tests can tell.
    const socks = `127.0.0.1:${await freePort()}`;
    const tor = async () =>
      (JSON.parse(ok(await people(["--data", janeDir, "--json", "config"])).stdout) as { tor: unknown }).tor;
    // Without --tor-all only .onion servers go through the proxy: a.test answers directly.
    ok(await people(["--data", janeDir, "--socks", socks, "inbox", "--limit", "1"]));
    assert.deepEqual(await tor(), { socks, all: false });
    assert.match(
      ok(await people(["--data", janeDir, "config"])).stdout,
      new RegExp(`Tor: through ${socks}, \\.onion servers only`),
    );

    // --tor-all takes the remembered proxy: the own server is now reached through it, and is not.
    const failed = await people(["--data", janeDir, "--tor-all", "inbox", "--limit", "1"]);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /through the Tor proxy/);
    assert.deepEqual(await tor(), { socks, all: false }, "a failed command remembers nothing");
    ok(await people(["--data", janeDir, "--tor-all", "config"]));
    assert.deepEqual(await tor(), { socks, all: true });
    const remembered = await people(["--data", janeDir, "inbox", "--limit", "1"]);
    assert.equal(remembered.code, 1, "no flags: the remembered --tor-all still sends through the proxy");
    assert.match(remembered.stderr, /through the Tor proxy/);

    const forgot = ok(await people(["--data", janeDir, "config", "forget-tor"]));
    assert.match(forgot.stdout, new RegExp(`^Forgot the Tor proxy ${socks}`));
    assert.equal(await tor(), null);
    ok(await people(["--data", janeDir, "inbox", "--limit", "1"]));
    const again = await people(["--data", janeDir, "config", "forget-tor"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no --socks is remembered here/);
  });
});
