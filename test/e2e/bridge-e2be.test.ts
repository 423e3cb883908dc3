// End-to-bridge encryption against the real thing: Synapse with the
// appservice's to-device and device-list extensions on, the bridge with
// encryption.allow and default, a second People server with Joe, and Alice
// as Element X is (matrix-js-sdk with Rust crypto, cross-signing set up).
// Every check of what Alice sees is the client's own view of the event:
// decrypted, and sent by a device its owner verified (no shield).
import assert from "node:assert/strict";
import { join } from "node:path";
import { Preset, type MatrixEvent } from "matrix-js-sdk";
import type { BridgeConfigInput } from "../../src/bridge/config.js";
import type { Registration } from "../../src/bridge/registration.js";
import { PeopleClient } from "../../src/people/client/people-client.js";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import {
  bridgeConfigInput,
  eventually,
  generateRegistrationWithCli,
  makeBridgeDir,
  matrixApi,
  startTestBridge,
  waitForTimelineEvent,
  writeConfigFile,
  type BridgeDir,
  type TestBridge,
} from "../helpers/bridge-harness.js";
import { Recorder, clientOptions, removeTempDirs, tempDir } from "../helpers/client-fixtures.js";
import { shieldOf, startCryptoUser, type CryptoUser } from "../helpers/crypto-user.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { freePort } from "../helpers/ports.js";
import { ensureSynapseInstalled, startSynapse, type SynapseHandle } from "../helpers/synapse.js";

const PEOPLE_DOMAIN = "people.test";
const OTHER = "other.test";
const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const JOE_GHOST = "@_people_joe=40other.test:localhost";
const BOT = "@peoplebot:localhost";
const MEGOLM = { algorithm: "m.megolm.v1.aes-sha2" };

type Json = Record<string, unknown>;

describe("end-to-bridge encryption on a real Synapse (Rust crypto client)", function () {
  this.timeout(90_000);
  let files: BridgeDir;
  let other: TestServer;
  let hs: SynapseHandle | undefined;
  let bridge: TestBridge | undefined;
  let registration: Registration;
  let input: BridgeConfigInput;
  let alice: CryptoUser | undefined;
  let joe: { client: PeopleClient; rec: Recorder } | undefined;
  let dm: string;

  const running = (): TestBridge => bridge ?? assert.fail("bridge not started");
  const synapse = (): SynapseHandle => hs ?? assert.fail("synapse not started");
  const user = (): CryptoUser => alice ?? assert.fail("alice not logged in");
  const people = () => joe ?? assert.fail("joe not started");

  async function startBridge(): Promise<void> {
    bridge = await startTestBridge(input, registration, {
      peopleClient: { reconnect: { baseMs: 100, maxMs: 500 }, backoff: { baseMs: 100, maxMs: 500 } },
    });
    await bridge.handle.ready;
  }

  before(async function () {
    this.timeout(900_000);
    await ensureSynapseInstalled();
    other = await startTestServer(OTHER);
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
      encryption: { allow: true, default: true },
      people: {
        ...base.people!,
        listen: { host: "127.0.0.1", port: await freePort() },
        discovery: {
          pins: { [OTHER]: `127.0.0.1:${other.handle.port}` },
          ca_files: [join(other.dataDir, "tls", "dev-cert.pem")],
        },
      },
    };
    writeConfigFile(files.configPath, fileInput);
    registration = await generateRegistrationWithCli(files, `http://127.0.0.1:${appservicePort}`);
    hs = await startSynapse({ appserviceRegistrations: [files.registrationPath] });
    input = { ...fileInput, homeserver: { url: hs.url, domain: hs.serverName } };
    await startBridge();
    const network = {
      pins: {
        [OTHER]: `127.0.0.1:${other.handle.port}`,
        [PEOPLE_DOMAIN]: `127.0.0.1:${running().handle.people.port}`,
      },
      ca: [other.handle.certificate, running().handle.people.certificate],
    };
    const client = await PeopleClient.create({ ...clientOptions(network, tempDir(JOE)), address: JOE });
    const rec = new Recorder(client);
    await client.start();
    joe = { client, rec };
    alice = await startCryptoUser(hs, "alice");
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed" && bridge)
      for (const l of bridge.logs.lines.filter((l) => l.level >= 40)) console.error(JSON.stringify(l));
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

  async function received(
    match: (m: ReceivedMessage) => boolean,
    timeoutMs = 30_000,
  ): Promise<ReceivedMessage> {
    return eventually(
      "Joe to receive a matching message",
      () => people().rec.messages.find(match),
      timeoutMs,
    );
  }

  /** Waits for an event that decrypts (in Alice's client) to content matching `pred`. */
  function decryptedFrom(roomId: string, sender: string, pred: (c: Json) => boolean, timeoutMs = 30_000) {
    // Polled: the timeline event fires before its decryption is done.
    return eventually(
      `a decrypted event from ${sender}`,
      () =>
        user()
          .client.getRoom(roomId)
          ?.getLiveTimeline()
          .getEvents()
          .find(
            (e: MatrixEvent) =>
              e.getSender() === sender &&
              !e.isDecryptionFailure() &&
              !e.isBeingDecrypted() &&
              pred(e.getContent() as Json),
          ),
      timeoutMs,
    );
  }

  async function assertTrusted(e: MatrixEvent): Promise<void> {
    await user().client.decryptEventIfNeeded(e);
    const s = await shieldOf(user(), e);
    assert.equal(s.encrypted, true, "the bridged event is encrypted");
    assert.equal(s.decryptionFailure, false);
    assert.ok(s.none, `the client shows a shield: ${String(s.colour)} ${String(s.reason)}`);
  }

  it("the bot reads and answers commands in an encrypted management room", async function () {
    const { room_id: roomId } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [BOT],
      is_direct: true,
      initial_state: [{ type: "m.room.encryption", state_key: "", content: MEGOLM }],
    });
    const welcome = await decryptedFrom(roomId, BOT, (c) => String(c.body).includes("People bridge bot"));
    await assertTrusted(welcome);
    await user().client.sendTextMessage(roomId, "help");
    const help = await decryptedFrom(
      roomId,
      BOT,
      (c) =>
        /dm/.test(String(c.body)) &&
        c.msgtype === "m.notice" &&
        !String(c.body).includes("People bridge bot"),
    );
    await assertTrusted(help);
  });

  it("Alice opens an encrypted DM with Joe's ghost; her text reaches Joe decrypted", async function () {
    const { room_id: roomId } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [JOE_GHOST],
      is_direct: true,
      initial_state: [{ type: "m.room.encryption", state_key: "", content: MEGOLM }],
    });
    dm = roomId;
    await waitForTimelineEvent(
      user().client,
      roomId,
      (e) =>
        e.getType() === "m.room.member" &&
        e.getStateKey() === JOE_GHOST &&
        e.getContent().membership === "join",
      30_000,
    );
    const sent = await user().client.sendTextMessage(roomId, "hello joe, secretly");
    const m = await received((x) => x.content.type === "text" && x.content.body === "hello joe, secretly");
    assert.equal(m.from, ALICE_PEOPLE);
    // What Synapse holds is ciphertext.
    const raw = await matrixApi(
      synapse(),
      user().accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(sent.event_id)}`,
    );
    assert.equal(raw.type, "m.room.encrypted");
    assert.ok(!JSON.stringify(raw).includes("secretly"));
  });

  it("Joe's reply reaches Alice encrypted, from a device its owner verified", async function () {
    await people().client.sendText([ALICE_PEOPLE], "hi alice, secretly");
    const e = await decryptedFrom(dm, JOE_GHOST, (c) => c.body === "hi alice, secretly");
    await assertTrusted(e);
    assert.equal(e.getWireType(), "m.room.encrypted");
  });

  it("keeps each identity's sealed state in the bridge database, one device each", async function () {
    const rows = await running().handle.store.crypto.listIdentities();
    const users = rows.map((r) => r.userId).sort();
    assert.deepEqual(users, [JOE_GHOST, BOT].sort());
    for (const r of rows) {
      assert.match(r.deviceId, /^PEOPLE[A-Z]{10}$/);
      assert.ok(!r.snapshot.includes(Buffer.from("secretly")));
      assert.ok(!r.snapshot.includes(Buffer.from("matrix-sdk-crypto")));
    }
    const devices = await matrixApi(synapse(), user().accessToken, "POST", "/_matrix/client/v3/keys/query", {
      device_keys: { [JOE_GHOST]: [] },
    });
    const ghostDevices = Object.keys((devices.device_keys as Record<string, Json>)[JOE_GHOST] ?? {});
    assert.deepEqual(ghostDevices, [rows.find((r) => r.userId === JOE_GHOST)!.deviceId]);
    assert.ok((devices.master_keys as Json)[JOE_GHOST], "the ghost has a cross-signing master key");
  });
});
