// The bridge's configuration without IO beyond reading files: config.sample.yaml
// loads through the typed config, every section's bad value is a ConfigError
// naming its key, and the pieces the config feeds (registration, permissions,
// command parsing) behave as the sample documents.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  ConfigError,
  bridgeDatabasePath,
  loadBridgeConfig,
  parseBridgeConfig,
} from "../../src/bridge/config.js";
import { CommandRegistry, parseCommand, tokenize, type Command } from "../../src/bridge/core/commands.js";
import { noticeContent } from "../../src/bridge/core/notice.js";
import { Permissions } from "../../src/bridge/core/permissions.js";
import {
  generateRegistration,
  ghostNamespaceRegex,
  registrationMismatches,
} from "../../src/bridge/registration.js";
import { parseServerConfig, readYamlFile } from "../../src/people/server/config.js";

const SAMPLE = resolve(__dirname, "..", "..", "config.sample.yaml");

const minimal = (): Record<string, unknown> => ({
  homeserver: { url: "https://matrix.example.com", domain: "example.com" },
  people: { domain: "example.com" },
});

/** A copy of `base` with `value` set at the dotted `path`. */
function withValue(base: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(base);
  const keys = path.split(".");
  let node = copy;
  for (const key of keys.slice(0, -1)) {
    node[key] ??= {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys.at(-1)!] = value;
  return copy;
}

function configError(input: unknown): ConfigError {
  try {
    parseBridgeConfig(input);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail("the config was accepted");
}

describe("bridge config", function () {
  it("loads the whole config.sample.yaml", function () {
    const raw = readYamlFile(SAMPLE) as { people: unknown };
    const config = parseBridgeConfig(raw);
    assert.deepEqual(config.homeserver, { url: "http://localhost:8008", domain: "localhost" });
    assert.deepEqual(config.appservice, {
      hostname: "127.0.0.1",
      port: 8090,
      id: "people",
      bot_username: "peoplebot",
      ghost_prefix: "_people_",
      room_concurrency: 16,
    });
    assert.deepEqual(config.bridge.permissions, { localhost: "user", "@admin:localhost": "admin" });
    assert.match(config.bridge.management_room_text.welcome, /`help`/);
    assert.deepEqual(config.bridge.groups, { max_ghosts: 64 });
    assert.deepEqual(config.bridge.limits, {
      rooms_per_sender_per_hour: 20,
      ghosts_per_sender_per_hour: 100,
    });
    assert.deepEqual(config.database, { engine: "sqlite", connection: "bridge.db", pool_max: 5 });
    assert.deepEqual(config.logging, { level: "info", format: "auto" });
    assert.deepEqual(config.metrics, { enabled: true, hostname: "127.0.0.1", port: 9367 });
    // The People section is the People server's own schema, unchanged.
    assert.deepEqual(config.people, parseServerConfig(raw.people, "people"));
  });

  it("fills in the defaults around the two required sections", function () {
    const config = parseBridgeConfig(minimal());
    assert.equal(config.appservice.hostname, "127.0.0.1");
    assert.equal(config.appservice.port, 8090);
    assert.equal(config.appservice.bot_username, "peoplebot");
    assert.equal(config.appservice.ghost_prefix, "_people_");
    assert.deepEqual(config.bridge.permissions, {}, "nobody may use the bridge until the admin says so");
    assert.equal(config.bridge.groups.max_ghosts, 64);
    assert.deepEqual(config.bridge.limits, {
      rooms_per_sender_per_hour: 20,
      ghosts_per_sender_per_hour: 100,
    });
    assert.equal(config.bridge.message_status_events, true, "send status events on, as in mautrix");
    assert.equal(config.bridge.delivery_timeout, 7 * 86_400_000);
    assert.equal(config.database.engine, "sqlite");
    assert.equal(bridgeDatabasePath(config), resolve("./data", "bridge.db"));
    assert.equal(config.logging.level, "info");
    assert.equal(config.people.listen.port, 7367);
  });

  it("puts the bridge's SQLite file under the People data directory, and leaves URLs alone", function () {
    const config = parseBridgeConfig(withValue(minimal(), "people.data_dir", "/var/lib/people"));
    assert.equal(bridgeDatabasePath(config), "/var/lib/people/bridge.db");
    const pg = parseBridgeConfig(
      withValue(
        withValue(minimal(), "database.engine", "postgres"),
        "database.connection",
        "postgres://b@h/db",
      ),
    );
    assert.equal(bridgeDatabasePath(pg), "postgres://b@h/db");
  });

  const badValues: [section: string, path: string, value: unknown, message: RegExp][] = [
    ["homeserver", "homeserver.url", "ftp://matrix.example.com", /http\(s\) URL/],
    ["homeserver", "homeserver.url", "not a url", /http\(s\) URL/],
    ["homeserver", "homeserver.domain", "bad domain!", /server name/],
    ["appservice", "appservice.port", 70000, /./],
    ["appservice", "appservice.hostname", "", /./],
    ["appservice", "appservice.id", "has space", /letters, digits/],
    ["appservice", "appservice.bot_username", "Upper Case", /localpart/],
    ["appservice", "appservice.ghost_prefix", "@bad", /localpart/],
    ["appservice", "appservice.as_token", "secret", /registration file/],
    ["appservice", "appservice.hs_token", "secret", /registration file/],
    ["appservice", "appservice.colour", "blue", /unknown key/],
    ["appservice", "appservice.room_concurrency", 0, /./],
    ["appservice", "appservice.room_concurrency", 2.5, /./],
    ["bridge", "bridge.permissions.@alice:localhost", "owner", /"user"\|"admin"/],
    ["bridge", "bridge.permissions.not a domain", "user", /user ID, a server name or \*/],
    ["bridge", "bridge.management_room_text.welcome", "", /./],
    ["bridge", "bridge.groups.max_ghosts", 1, /./],
    ["bridge", "bridge.groups.max_ghosts", 1025, /./],
    ["bridge", "bridge.groups.max_ghosts", 2.5, /./],
    ["bridge", "bridge.limits.rooms_per_sender_per_hour", 0, /./],
    ["bridge", "bridge.limits.ghosts_per_sender_per_hour", 1.5, /./],
    ["bridge", "bridge.limits.per_domain", 5, /unknown key/],
    ["bridge", "bridge.message_status_events", "yes", /boolean/],
    ["bridge", "bridge.double_puppet.secrets.localhost", "the-token", /as_token:<token>/],
    ["bridge", "bridge.double_puppet.secrets.localhost", "as_token:", /as_token:<token>/],
    ["bridge", "bridge.double_puppet.servers.localhost", "ftp://hs", /http\(s\) URL/],
    ["bridge", "bridge.double_puppet.shared_secret", "x", /unknown key/],
    ["bridge", "bridge.delivery_timeout", "500ms", /at least 1s/],
    ["bridge", "bridge.delivery_timeout", "31d", /at most 30d/],
    ["bridge", "bridge.delivery_timeout", "soon", /duration/],
    ["database", "database.engine", "mysql", /sqlite.*postgres/],
    ["database", "database.connection", "postgres://x@y/z", /engine is sqlite/],
    ["database", "database.pool_max", 0, /./],
    ["logging", "logging.level", "loud", /./],
    ["logging", "logging.format", "colourful", /./],
    ["metrics", "metrics.enabled", "yes", /boolean/],
    ["metrics", "metrics.port", 8090, /already used by appservice\.port/],
    ["people", "people.domain", "", /./],
    ["people", "people.limits.max_blob_bytes", -1, /./],
    ["people", "people.registration.mode", "sometimes", /./],
  ];
  for (const [section, path, value, message] of badValues) {
    it(`${section}: ${path} = ${JSON.stringify(value)} is refused, naming the key`, function () {
      const err = configError(withValue(minimal(), path, value));
      assert.equal(err.path, path, err.message);
      assert.ok(err.message.startsWith(`config: ${path}: `), err.message);
      assert.match(err.message, message);
    });
  }

  it("names a missing required section", function () {
    assert.equal(configError({ people: { domain: "example.com" } }).path, "homeserver");
    assert.equal(configError({ homeserver: minimal().homeserver }).path, "people");
    assert.equal(configError(null).path, "");
  });

  it("refuses a bot name inside the ghost namespace", function () {
    const err = configError(withValue(minimal(), "appservice.bot_username", "_people_bot"));
    assert.equal(err.path, "appservice.bot_username");
  });

  it("explains a missing config file and points to the sample", function () {
    const dir = mkdtempSync(join(tmpdir(), "bridge-config-"));
    try {
      assert.throws(
        () => loadBridgeConfig(join(dir, "config.yaml")),
        (err: Error) =>
          err instanceof ConfigError && /not found\. Copy config\.sample\.yaml/.test(err.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("bridge registration", function () {
  const config = parseBridgeConfig(withValue(minimal(), "homeserver.domain", "matrix.example.com"));

  it("has fresh 64-character tokens each time and the bridge's flags", function () {
    const a = generateRegistration(config, "http://127.0.0.1:8090");
    const b = generateRegistration(config, "http://127.0.0.1:8090");
    for (const token of [a.as_token, a.hs_token, b.as_token]) assert.match(token, /^[0-9a-f]{64}$/);
    assert.equal(new Set([a.as_token, a.hs_token, b.as_token, b.hs_token]).size, 4);
    assert.equal(a.sender_localpart, "peoplebot");
    assert.equal(a.rate_limited, false);
    assert.equal(a.receive_ephemeral, true);
    assert.equal(a["org.matrix.msc3202"], true);
    assert.equal(a["io.element.msc4190"], true);
    assert.deepEqual(registrationMismatches(a, config), []);
  });

  it("claims exactly the ghosts of its homeserver (the domain regex-escaped)", function () {
    const regex = ghostNamespaceRegex(config);
    assert.equal(regex, "^@_people_[a-z0-9._=\\-/]+:matrix\\.example\\.com$");
    const re = new RegExp(`^${regex}$`);
    assert.ok(re.test("@_people_joe=40example.com:matrix.example.com"));
    assert.ok(!re.test("@_people_joe=40example.com:matrixxexample.com"));
    assert.ok(!re.test("@alice:matrix.example.com"));
    assert.ok(!re.test("@peoplebot:matrix.example.com"));
  });

  it("notices a registration made for another bot or homeserver", function () {
    const registration = generateRegistration(config, null);
    const other = parseBridgeConfig(withValue(minimal(), "appservice.bot_username", "otherbot"));
    const problems = registrationMismatches(registration, other);
    assert.equal(problems.length, 2, problems.join("; "));
    assert.match(problems[0]!, /sender_localpart/);
    assert.match(problems[1]!, /namespaces\.users/);
  });
});

describe("bridge permissions", function () {
  const permissions = new Permissions({
    "*": "user",
    "example.com": "user",
    "evil.example": "user",
    "@boss:example.com": "admin",
  });

  it("prefers the user ID over its server over *", function () {
    assert.equal(permissions.levelOf("@boss:example.com"), "admin");
    assert.equal(permissions.levelOf("@alice:example.com"), "user");
    assert.equal(permissions.levelOf("@bob:elsewhere.org"), "user");
    assert.ok(permissions.allows("@boss:example.com", "admin"));
    assert.ok(!permissions.allows("@alice:example.com", "admin"));
  });

  it("refuses everyone not listed when there is no *", function () {
    const strict = new Permissions({ "example.com": "user" });
    assert.equal(strict.levelOf("@mallory:other.org"), "none");
    assert.equal(strict.levelOf("@alice:example.com"), "user");
    assert.equal(strict.levelOf("@alice:sub.example.com"), "none", "a server name is not a suffix match");
  });
});

describe("bridge commands (parsing and registry)", function () {
  const noop = (name: string, level: "user" | "admin" = "user"): Command => ({
    name,
    help: `${name} help`,
    level,
    run: () => ({ text: name }),
  });

  it("splits a message into a lowercase command and arguments", function () {
    assert.deepEqual(parseCommand("  HELP  "), { name: "help", args: [] });
    assert.deepEqual(parseCommand("!dm joe@example.com"), { name: "dm", args: ["joe@example.com"] });
    assert.deepEqual(parseCommand('verify "a b"  c'), { name: "verify", args: ["a b", "c"] });
    assert.equal(parseCommand("   "), undefined);
    assert.deepEqual(tokenize('x "" y'), ["x", "", "y"]);
  });

  it("refuses a command registered twice, and shows admin commands to admins only", function () {
    const registry = new CommandRegistry().register(noop("help"), noop("devices", "admin"));
    assert.throws(() => registry.register(noop("help")), /registered twice/);
    assert.throws(() => registry.register(noop("Bad Name")), /lowercase word/);
    assert.deepEqual(
      registry.available("user").map((c) => c.name),
      ["help"],
    );
    assert.deepEqual(
      registry.available("admin").map((c) => c.name),
      ["help", "devices"],
    );
  });

  it("renders notices as m.notice with escaped HTML and code spans", function () {
    const content = noticeContent({ text: "Send `help` <now>\nline & two" });
    assert.equal(content.msgtype, "m.notice");
    assert.equal(content.body, "Send `help` <now>\nline & two");
    assert.equal(content.formatted_body, "Send <code>help</code> &#60;now&#62;<br>line &#38; two");
  });
});
