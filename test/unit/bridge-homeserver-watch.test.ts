// The homeserver connection's watch, against a small HTTP stand-in for the
// homeserver (client versions, whoami, and the server key whose valid_until_ts
// Synapse sets from its start time): it tells a quiet check from an outage
// that ended and from a restart between two checks.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { HomeserverConnection, type RecoveryReason } from "../../src/bridge/homeserver.js";
import { eventually } from "../helpers/bridge-harness.js";
import { newMetrics, silentLog } from "../helpers/portal-fakes.js";

const BOT = "@people:hs.test";

class FakeHomeserver {
  up = true;
  /** valid_until_ts of the server key; undefined: no key endpoint (not Synapse). */
  marker: number | undefined = 1_000;
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (!this.up) return reply(502, { error: "bad gateway" });
      const path = (req.url ?? "").split("?")[0];
      if (path === "/_matrix/client/versions") return reply(200, { versions: ["v1.11"] });
      if (path === "/_matrix/client/v3/account/whoami") return reply(200, { user_id: BOT });
      if (path === "/_matrix/key/v2/server" && this.marker !== undefined)
        return reply(200, { server_name: "hs.test", valid_until_ts: this.marker });
      reply(404, { errcode: "M_UNRECOGNIZED" });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.close(() => resolve());
      this.server?.closeAllConnections();
    });
  }
}

describe("bridge homeserver watch: outages and restarts", function () {
  let hs: FakeHomeserver;
  let connection: HomeserverConnection | undefined;
  let recovered: RecoveryReason[];
  let quiet: number;
  /** Everything the watch reported, in order. */
  let seen: string[];

  async function connect(): Promise<void> {
    const url = await hs.start();
    connection = new HomeserverConnection({
      url,
      domain: "hs.test",
      asToken: "as",
      botUserId: BOT,
      registrationPath: "/tmp/registration.yaml",
      log: silentLog,
      metrics: newMetrics(),
      retry: { initialMs: 10, maxMs: 20, recheckMs: 20 },
      onConnected: async () => undefined,
      onRecovered: (reason) => {
        recovered.push(reason);
        seen.push(reason);
      },
      onQuiet: async () => {
        quiet++;
        seen.push("quiet");
      },
    });
    connection.start();
    await connection.ready;
  }

  beforeEach(function () {
    hs = new FakeHomeserver();
    recovered = [];
    quiet = 0;
    seen = [];
  });

  afterEach(async function () {
    await connection?.stop();
    await hs.stop();
  });

  it("counts quiet checks while nothing happens", async function () {
    await connect();
    await eventually("a few quiet checks", () => (quiet >= 3 ? true : undefined));
    assert.deepEqual(recovered, []);
  });

  it("notices the homeserver back after an outage", async function () {
    await connect();
    hs.up = false;
    await eventually("the outage to be seen", () => (connection!.state === "unreachable" ? true : undefined));
    const before = seen.length;
    hs.up = true;
    await eventually("the recovery", () => (recovered.length > 0 ? true : undefined));
    assert.deepEqual(recovered, ["reconnected"]);
    // Nothing was quiet while it was down, and the check that saw it back was the recovery.
    assert.equal(seen[before], "reconnected");
  });

  it("notices a restart between two checks by the changed server key expiry", async function () {
    await connect();
    await eventually("a quiet check", () => (quiet >= 1 ? true : undefined));
    hs.marker = 2_000;
    await eventually("the restart to be noticed", () => (recovered.length > 0 ? true : undefined));
    assert.deepEqual(recovered, ["restarted"]);
    await eventually("quiet checks again", () => (quiet >= 3 ? true : undefined));
    assert.deepEqual(recovered, ["restarted"]);
  });

  it("without a server key endpoint, notices outages only", async function () {
    hs.marker = undefined;
    await connect();
    await eventually("a quiet check", () => (quiet >= 2 ? true : undefined));
    assert.deepEqual(recovered, []);
    hs.up = false;
    await eventually("the outage to be seen", () => (connection!.state === "unreachable" ? true : undefined));
    hs.up = true;
    await eventually("the recovery", () => (recovered.length > 0 ? true : undefined));
    assert.deepEqual(recovered, ["reconnected"]);
  });
});
