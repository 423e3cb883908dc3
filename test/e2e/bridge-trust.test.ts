// Trust in the management room and key changes told in the portal, against the
// real thing: a real Synapse, the bridge with its embedded People server
// (people.test) and a second real People server (other.test) where Joe lives.
// Joe's safety number as the bridge shows it must be the one his own client
// computes; his rotated key gets a short note in the portal; when other.test
// is replaced by a fresh server and Joe registers anew (new account key), the
// portal gets a warning and `verify … --accept-change` accepts the new keys.
// The tests run in order and share the rooms.
import assert from "node:assert/strict";
import { cpSync } from "node:fs";
import { join } from "node:path";
import { Preset, type MatrixEvent } from "matrix-js-sdk";
import type { BridgeConfigInput } from "../../src/bridge/config.js";
import type { Registration } from "../../src/bridge/registration.js";
import { PeopleClient } from "../../src/people/client/people-client.js";
import {
  bridgeConfigInput,
  eventually,
  generateRegistrationWithCli,
  isBotReplyTo,
  makeBridgeDir,
  startMatrixUser,
  startTestBridge,
  waitForTimelineEvent,
  writeConfigFile,
  type BridgeDir,
  type MatrixUser,
  type TestBridge,
} from "../helpers/bridge-harness.js";
import { Recorder, clientOptions, removeTempDirs, tempDir } from "../helpers/client-fixtures.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { freePort } from "../helpers/ports.js";
import { ensureSynapseInstalled, startSynapse, type SynapseHandle } from "../helpers/synapse.js";

const PEOPLE_DOMAIN = "people.test";
const OTHER = "other.test";
const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const JOE_GHOST = "@_people_joe=40other.test:localhost";
const BOT = "@peoplebot:localhost";

type Json = Record<string, unknown>;

/** The 12 groups of 5 digits in a notice, as one safety number (the first `skip` numbers skipped). */
function numberIn(body: string, skip = 0): string {
  const groups = body.match(/\b\d{5}\b/g) ?? [];
  return groups.slice(skip * 12, skip * 12 + 12).join(" ");
}

describe("trust commands and key-change notices on a real Synapse", function () {
  this.timeout(180_000); // generous: Synapse on a busy 2-core machine; every wait ends when its condition holds
  let files: BridgeDir;
  let other: TestServer;
  let otherPort: number;
  let hs: SynapseHandle | undefined;
  let bridge: TestBridge | undefined;
  let registration: Registration;
  let alice: MatrixUser | undefined;
  let joe: { client: PeopleClient; rec: Recorder } | undefined;
  let managementRoom: string;
  let portal: string;

  const running = (): TestBridge => bridge ?? assert.fail("bridge not started");
  const user = (): MatrixUser => alice ?? assert.fail("alice not logged in");
  const joeClient = (): PeopleClient => joe?.client ?? assert.fail("joe not started");

  async function startJoe(): Promise<void> {
    const network = {
      pins: {
        [OTHER]: `127.0.0.1:${otherPort}`,
        [PEOPLE_DOMAIN]: `127.0.0.1:${running().handle.people.port}`,
      },
      ca: [other.handle.certificate, running().handle.people.certificate],
    };
    const client = await PeopleClient.create({ ...clientOptions(network, tempDir("joe")), address: JOE });
    const rec = new Recorder(client);
    await client.start();
    joe = { client, rec };
  }

  const content = (e: MatrixEvent): Json => e.getContent() as Json;

  async function send(roomId: string, body: string): Promise<string> {
    const client = user().client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    return (await client.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body })).event_id;
  }

  async function command(body: string): Promise<string> {
    const id = await send(managementRoom, body);
    const reply = await waitForTimelineEvent(user().client, managementRoom, isBotReplyTo(BOT, id));
    return String(content(reply).body);
  }

  const ghostNotice = (pattern: RegExp) => (e: MatrixEvent) =>
    e.getSender() === JOE_GHOST && content(e).msgtype === "m.notice" && pattern.test(String(content(e).body));

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    await ensureSynapseInstalled();
    otherPort = await freePort();
    other = await startTestServer(OTHER, { config: { listen: { host: "127.0.0.1", port: otherPort } } });
    files = makeBridgeDir();
    const appservicePort = await freePort();
    const base = bridgeConfigInput(files.dir, {
      homeserverUrl: "http://127.0.0.1:9",
      appservicePort,
      peopleDomain: PEOPLE_DOMAIN,
      permissions: { "@alice:localhost": "user" },
    });
    const fileInput: BridgeConfigInput = {
      ...base,
      people: {
        ...base.people!,
        discovery: {
          pins: { [OTHER]: `127.0.0.1:${otherPort}` },
          ca_files: [join(other.dataDir, "tls", "dev-cert.pem")],
        },
      },
    };
    writeConfigFile(files.configPath, fileInput);
    registration = await generateRegistrationWithCli(files, `http://127.0.0.1:${appservicePort}`);
    hs = await startSynapse({ appserviceRegistrations: [files.registrationPath] });
    bridge = await startTestBridge(
      { ...fileInput, homeserver: { url: hs.url, domain: hs.serverName } },
      registration,
      {
        registrationPath: files.registrationPath,
        peopleClient: { reconnect: { baseMs: 100, maxMs: 500 }, backoff: { baseMs: 100, maxMs: 500 } },
      },
    );
    await bridge.handle.ready;
    await startJoe();
    alice = await startMatrixUser(hs, "alice");
  });

  after(async function () {
    this.timeout(60_000);
    alice?.client.stopClient();
    await joe?.client.close();
    await bridge?.stop();
    await hs?.stop();
    await other?.stop();
    files?.remove();
    removeTempDirs();
  });

  it("sets up the management room and a portal with Joe", async function () {
    const { room_id: roomId } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [BOT],
      is_direct: true,
    });
    managementRoom = roomId;
    await waitForTimelineEvent(user().client, roomId, (e) => e.getSender() === BOT);
    assert.match(await command(`dm ${JOE}`), /Started a direct chat/);
    portal =
      (await running().handle.store.portals.byPair(user().userId, JOE))?.roomId ?? assert.fail("no portal");
    await eventually("the invite", () =>
      user().client.getRoom(portal)?.getMember(user().userId)?.membership === "invite" ? true : undefined,
    );
    await user().client.joinRoom(portal);
    await send(portal, "hello joe");
    await eventually("Joe to get Alice's message", () =>
      joe!.rec.messages.find((m) => m.content.type === "text" && m.content.body === "hello joe"),
    );
  });

  it("`fingerprint joe@other.test` shows the safety number Joe's client computes", async function () {
    const body = await command(`fingerprint ${JOE}`);
    assert.match(body, /alice@people\.test/);
    assert.equal(numberIn(body), await joeClient().fingerprint(ALICE_PEOPLE));
    assert.match(body, /`verify joe@other\.test`/);
    assert.match(await command(`verify ${JOE}`), /is verified/);
    assert.match(await command("contacts"), /`joe@other\.test`: verified, 1 device/);
    assert.match(await command(`devices ${JOE}`), new RegExp(`\`${joeClient().device}\`: key #0`));
    const own = await command("fingerprint");
    assert.match(own, /Your People address: `alice@people\.test`/);
    assert.match(own, /\(this bridge\)/);
  });

  it("Joe rotates his device key: a short note from his ghost in the portal", async function () {
    assert.equal((await joeClient().rotateIfDue(Date.now(), { rotationMs: 0 })).rotated, true);
    // The bridge fetches Joe's keys when it seals to him.
    await send(portal, "after the rotation");
    const note = await waitForTimelineEvent(user().client, portal, ghostNotice(/rotated a device key/));
    assert.doesNotMatch(String(content(note).body), /WARNING/);
    assert.match(await command(`devices ${JOE}`), /key #1/);
  });

  it("Joe registers anew with a new account key: a warning, and `verify --accept-change` accepts it", async function () {
    this.timeout(120_000);
    await joeClient().close();
    joe = undefined;
    // A fresh server for other.test (same port and certificate, new keys and database), and a new Joe.
    const freshDir = tempDir("other-fresh");
    cpSync(join(other.dataDir, "tls"), join(freshDir, "tls"), { recursive: true });
    await other.stop();
    other = await startTestServer(OTHER, {
      dataDir: freshDir,
      config: { listen: { host: "127.0.0.1", port: otherPort } },
    });
    await startJoe();
    await joeClient().sendText([ALICE_PEOPLE], "hello from new keys");

    const warning = await waitForTimelineEvent(user().client, portal, ghostNotice(/WARNING/), 40_000);
    const text = String(content(warning).body);
    assert.match(text, /held/);
    assert.match(text, /`verify joe@other\.test --accept-change`/);
    const newNumber = await joeClient().fingerprint(ALICE_PEOPLE);
    assert.equal(numberIn(text), newNumber);

    // The management room shows the old number and the new one; plain `verify` is refused.
    const fp = await command(`fingerprint ${JOE}`);
    assert.equal(numberIn(fp, 1), newNumber);
    assert.notEqual(numberIn(fp, 0), newNumber);
    assert.match(await command(`verify ${JOE}`), /--accept-change/);
    assert.match(await command(`verify ${JOE} --accept-change`), /Accepted the new keys/);
    // The held message is delivered now.
    await waitForTimelineEvent(
      user().client,
      portal,
      (e) => e.getSender() === JOE_GHOST && content(e).body === "hello from new keys",
    );
    const after = await command(`fingerprint ${JOE}`);
    assert.equal(numberIn(after), newNumber);
    assert.match(after, /is verified/);
  });
});
