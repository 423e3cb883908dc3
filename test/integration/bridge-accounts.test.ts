// The bridge's side of its users' People accounts, short of a running
// client: which Matrix users get which address, the bridge secret and what is
// derived from it, the embedded server's registration policy, and how the
// clients reach People servers.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BRIDGE_SECRET_FILE,
  BridgeSecret,
  userDataDir,
  withBridgeRegistration,
} from "../../src/bridge/adapters/accounts/bridge-secret.js";
import { PeopleAccounts } from "../../src/bridge/adapters/accounts/people-accounts.js";
import { peopleNetwork } from "../../src/bridge/adapters/accounts/people-network.js";
import { TorRoute } from "../../src/people/net/tor-route.js";
import { parseServerConfig, type ServerConfigInput } from "../../src/people/server/config.js";
import { silentLog } from "../helpers/portal-fakes.js";
import { isUserError } from "../../src/bridge/core/error-kinds.js";

describe("bridge People accounts", function () {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "bridge-accounts-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const server = (o: Partial<ServerConfigInput> = {}) =>
    parseServerConfig({ domain: "people.test", data_dir: dir, ...o });

  it("gives @local:hs the address local@people-domain, and refuses what cannot map one to one", function () {
    const secret = BridgeSecret.load(dir);
    const accounts = new PeopleAccounts({
      dataDir: dir,
      peopleDomain: "people.test",
      homeserverDomain: "hs.test",
      secret,
      network: { pins: {}, ca: [] },
      store: {
        put: async () => undefined,
        get: async () => undefined,
        list: async () => [],
        dueForMaintenance: async () => [],
        maintained: async () => undefined,
        setOpenAtStart: async () => undefined,
        openAtStart: async () => [],
      },
      log: silentLog,
    });
    assert.equal(accounts.addressFor("@alice.smith:hs.test"), "alice.smith@people.test");
    for (const [user, why] of [
      ["@alice:elsewhere.test", /Only users of hs.test/],
      ["@Alice:hs.test", /cannot be a People address/],
      ["@a=b:hs.test", /cannot be a People address/],
      ["@-x:hs.test", /cannot be a People address/],
      ["not a user", /not a Matrix user id/],
    ] as const) {
      assert.throws(
        () => accounts.addressFor(user),
        (err: unknown) => isUserError(err) && why.test(err.userText),
        user,
      );
    }
  });

  it("keeps one 32-byte secret (0600) and derives a different store key per user", function () {
    const a = BridgeSecret.load(dir);
    const file = join(dir, BRIDGE_SECRET_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file).length, 32);
    const b = BridgeSecret.load(dir);
    assert.equal(a.storePassphrase("@a:hs"), b.storePassphrase("@a:hs"));
    assert.notEqual(a.storePassphrase("@a:hs"), a.storePassphrase("@b:hs"));
    assert.notEqual(a.registrationToken(), a.storePassphrase("@a:hs"));
    assert.match(a.registrationToken(), /^[0-9a-f]{64}$/);
    assert.notEqual(userDataDir(dir, "@a:hs"), userDataDir(dir, "@b:hs"));
    assert.ok(!userDataDir(dir, "@a:hs").includes("@a"));
    writeFileSync(file, Buffer.alloc(7));
    assert.throws(() => BridgeSecret.load(dir), /not 32 bytes/);
  });

  it("lets the bridge register on its own server whatever the registration mode", function () {
    const token = "b".repeat(64);
    assert.deepEqual(withBridgeRegistration(server(), token).registration, {
      mode: "token",
      tokens: [token],
    });
    const invites = server({ registration: { mode: "token", tokens: ["x".repeat(16)] } });
    assert.deepEqual(withBridgeRegistration(invites, token).registration.tokens, ["x".repeat(16), token]);
    const open = server({ registration: { mode: "open" } });
    assert.deepEqual(withBridgeRegistration(open, token).registration, { mode: "open", tokens: [] });
  });

  it("pins its own domain to the embedded server and trusts the configured CAs", function () {
    const ca = join(dir, "other.pem");
    writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nother\n-----END CERTIFICATE-----\n");
    const dev = peopleNetwork(
      server({ discovery: { pins: { "other.test": "127.0.0.1:9999" }, ca_files: [ca] } }),
      { port: 4321, certificate: "OWN-DEV-CERT" },
    );
    assert.deepEqual(dev.pins, { "other.test": "127.0.0.1:9999", "people.test": "127.0.0.1:4321" });
    assert.deepEqual(dev.ca, [readFileSync(ca, "utf8"), "OWN-DEV-CERT"]);
    // A real certificate names the public address: no loopback pin, no extra trust.
    const real = peopleNetwork(
      server({ tls: { cert: "/etc/cert.pem", key: "/etc/key.pem" }, public_address: "people.example:7367" }),
      { port: 7367, certificate: "REAL" },
    );
    assert.deepEqual(real, { pins: { "people.test": "people.example:7367" }, ca: [] });
    assert.throws(
      () =>
        peopleNetwork(server({ discovery: { ca_files: [join(dir, "missing.pem")] } }), {
          port: 1,
          certificate: "",
        }),
      /people\.discovery\.ca_files\.0: cannot read/,
    );
  });

  it("with tor.all, sends everything through Tor but the traffic to its own server on loopback", function () {
    const tor = { socks: "127.0.0.1:9050", all: true };
    const dev = peopleNetwork(server({ tor }), { port: 4321, certificate: "OWN-DEV-CERT" });
    assert.deepEqual(dev.tor, { ...tor, direct: ["127.0.0.1"] });
    const route = new TorRoute(dev.tor);
    assert.equal(route.proxied("127.0.0.1"), false, "its own server, on this machine");
    assert.equal(route.proxied("other.example"), true);
    assert.equal(route.proxied(`${"a".repeat(55)}d.onion`), true);
    assert.equal(new TorRoute(tor).proxied("127.0.0.1"), true, "a device's tor.all has no exception");
    // Its own server at a public address is like any other: through Tor.
    const real = peopleNetwork(
      server({
        tor,
        tls: { cert: "/etc/cert.pem", key: "/etc/key.pem" },
        public_address: "people.example:7367",
      }),
      { port: 7367, certificate: "REAL" },
    );
    assert.deepEqual(real.tor, tor);
  });
});
