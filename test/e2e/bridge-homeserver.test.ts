// The bridge and its homeserver, when things are not right: Synapse down at
// start (the bridge logs the retry, keeps its People server serving, and
// connects once Synapse is back), and a homeserver that does not know the
// appservice (the log says exactly what to add to homeserver.yaml).
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { HttpsClient } from "../../src/people/net/https-client.js";
import { parseBridgeConfig } from "../../src/bridge/config.js";
import {
  generateRegistration,
  readRegistrationFile,
  writeRegistrationFile,
  type Registration,
} from "../../src/bridge/registration.js";
import {
  bridgeConfigInput,
  makeBridgeDir,
  startTestBridge,
  type BridgeDir,
  type TestBridge,
} from "../helpers/bridge-harness.js";
import { freePort } from "../helpers/ports.js";
import { ensureSynapseInstalled, startSynapse, type SynapseHandle } from "../helpers/synapse.js";

describe("bridge and homeserver availability", function () {
  this.timeout(120_000);
  let files: BridgeDir;
  let hs: SynapseHandle | undefined;
  let registration: Registration;
  let appservicePort: number;
  const bridges: TestBridge[] = [];

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    await ensureSynapseInstalled();
    files = makeBridgeDir();
    appservicePort = await freePort();
    const config = parseBridgeConfig(bridgeConfigInput(files.dir, { homeserverUrl: "http://127.0.0.1:9" }));
    registration = generateRegistration(config, `http://127.0.0.1:${appservicePort}`);
    writeRegistrationFile(files.registrationPath, registration);
    hs = await startSynapse({ appserviceRegistrations: [files.registrationPath] });
  });

  after(async function () {
    this.timeout(60_000);
    for (const bridge of bridges) await bridge.stop();
    await hs?.stop();
    files?.remove();
  });

  const synapse = (): SynapseHandle => hs ?? assert.fail("synapse not started");

  it("starts while the homeserver is down, keeps People serving, and connects when it is back", async function () {
    let bridge: TestBridge | undefined;
    await synapse().restart({
      whileDown: async () => {
        bridge = await startTestBridge(
          bridgeConfigInput(join(files.dir, "outage"), { homeserverUrl: synapse().url, appservicePort }),
          registration,
          { registrationPath: files.registrationPath },
        );
        bridges.push(bridge);
        const retry = await bridge.logs.waitFor(/^cannot reach the homeserver at /);
        assert.ok(retry.msg.includes(synapse().url), retry.msg);
        assert.match(retry.msg, /retrying in \d+ s$/);
        assert.equal(bridge.handle.connectionState(), "unreachable");

        // The embedded People server does not wait for Matrix.
        const people = new HttpsClient({ ca: [bridge.handle.people.certificate] });
        try {
          assert.deepEqual(await people.json("GET", `${bridge.handle.people.url}/_people/v1/health`), {
            status: "ok",
          });
        } finally {
          people.close();
        }
        const health = await fetch(`${bridge.handle.metricsUrl}/health`);
        assert.equal(health.status, 503);
        assert.equal(((await health.json()) as { homeserver: string }).homeserver, "unreachable");
      },
    });
    const running = bridge ?? assert.fail("bridge not started");
    await running.handle.ready;
    assert.equal(running.handle.connectionState(), "connected");
    await running.logs.waitFor(/^connected to the homeserver$/);
    assert.equal((await fetch(`${running.handle.metricsUrl}/health`)).status, 200);

    // Losing the homeserver later shows in the log and in /health, and so does its return.
    await synapse().restart({
      whileDown: async () => {
        await running.logs.waitFor(/^lost the homeserver at .*: unreachable$/);
        assert.equal((await fetch(`${running.handle.metricsUrl}/health`)).status, 503);
      },
    });
    await running.logs.waitFor(/^the homeserver is back$/);
    assert.equal(running.handle.connectionState(), "connected");
  });

  it("tells the admin what to add to homeserver.yaml when the homeserver does not know the appservice", async function () {
    const dir = join(files.dir, "unknown");
    const config = parseBridgeConfig(bridgeConfigInput(dir, { homeserverUrl: synapse().url }));
    const unknownPath = join(files.dir, "not-in-homeserver-yaml.yaml");
    writeRegistrationFile(unknownPath, generateRegistration(config, "http://127.0.0.1:1"));
    const bridge = await startTestBridge(
      bridgeConfigInput(dir, { homeserverUrl: synapse().url }),
      readRegistrationFile(unknownPath),
      { registrationPath: unknownPath },
    );
    bridges.push(bridge);
    const told = await bridge.logs.waitFor(/does not know this appservice/);
    assert.ok(told.msg.includes(`app_service_config_files: [${JSON.stringify(unknownPath)}]`), told.msg);
    assert.match(told.msg, /M_UNKNOWN_TOKEN/);
    assert.equal(told.level, 50, "logged as an error");
    assert.equal(bridge.handle.connectionState(), "unknown_appservice");
    // It keeps trying (the admin may fix homeserver.yaml and restart the homeserver).
    await bridge.logs.waitFor(/still does not know this appservice/);
  });

  it("fails its start cleanly when the appservice port is taken", async function () {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", resolve));
    try {
      const port = (squatter.address() as { port: number }).port;
      const input = bridgeConfigInput(join(files.dir, "taken"), {
        homeserverUrl: synapse().url,
        appservicePort: port,
      });
      await assert.rejects(
        startTestBridge(input, registration),
        /^ConfigError: config: appservice\.port: port \d+ on 127\.0\.0\.1 is already in use .*EADDRINUSE/,
      );
    } finally {
      squatter.close();
    }
  });
});
