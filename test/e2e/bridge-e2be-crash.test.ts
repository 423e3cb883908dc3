// End-to-bridge encryption survives SIGKILL: the bridge runs as its real
// command in a child process with encryption.allow; Alice (Rust crypto, as
// Element X) and Joe (a second People server) write in an encrypted DM. The
// bridge is killed right after it received a new room key and bridged the
// message it opened; while it is down Alice writes more in that session and
// in a new one, and Joe writes too. After the restart everything is bridged
// exactly once, nothing is left undecryptable, and Alice's client trusts
// and decrypts what the ghost sends with its saved outbound session.
// (Synapse retries a failed transaction with its room events only: the room
// key of k-3 comes through the device's /sync catch-up.)
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Preset, type MatrixEvent } from "matrix-js-sdk";
import type { BridgeConfigInput } from "../../src/bridge/config.js";
import { PeopleClient } from "../../src/people/client/people-client.js";
import {
  bridgeConfigInput,
  bridgeProcess,
  eventually,
  generateRegistrationWithCli,
  makeBridgeDir,
  matrixApi,
  writeConfigFile,
  type BridgeDir,
  type BridgeProcess,
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

type Json = Record<string, unknown>;

describe("end-to-bridge encryption across a SIGKILL of the bridge", function () {
  this.timeout(180_000);
  let files: BridgeDir;
  let other: TestServer;
  let hs: SynapseHandle | undefined;
  let bridge: BridgeProcess | undefined;
  let alice: CryptoUser | undefined;
  let joe: { client: PeopleClient; rec: Recorder } | undefined;
  let dm: string;

  const synapse = (): SynapseHandle => hs ?? assert.fail("synapse not started");
  const user = (): CryptoUser => alice ?? assert.fail("alice not logged in");
  const people = () => joe ?? assert.fail("joe not started");

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
    const input: BridgeConfigInput = {
      ...base,
      logging: { level: "info" },
      encryption: { allow: true },
      people: {
        ...base.people!,
        listen: { host: "127.0.0.1", port: await freePort() },
        discovery: {
          pins: { [OTHER]: `127.0.0.1:${other.handle.port}` },
          ca_files: [join(other.dataDir, "tls", "dev-cert.pem")],
        },
      },
    };
    writeConfigFile(files.configPath, input);
    await generateRegistrationWithCli(files, `http://127.0.0.1:${appservicePort}`);
    hs = await startSynapse({ appserviceRegistrations: [files.registrationPath] });
    writeConfigFile(files.configPath, { ...input, homeserver: { url: hs.url, domain: hs.serverName } });
    bridge = bridgeProcess(files);
    await bridge.start();

    const bridgeCert = readFileSync(join(files.dir, "data", "tls", "dev-cert.pem"), "utf8");
    const network = {
      pins: {
        [OTHER]: `127.0.0.1:${other.handle.port}`,
        [PEOPLE_DOMAIN]: `127.0.0.1:${input.people!.listen!.port}`,
      },
      ca: [other.handle.certificate, bridgeCert],
    };
    const client = await PeopleClient.create({ ...clientOptions(network, tempDir("joe")), address: JOE });
    const rec = new Recorder(client);
    await client.start();
    joe = { client, rec };
    alice = await startCryptoUser(hs, "alice");

    const { room_id: roomId } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [JOE_GHOST],
      is_direct: true,
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    dm = roomId;
    await eventually("Joe's ghost to join", async () => {
      const members = await matrixApi(
        synapse(),
        user().accessToken,
        "GET",
        `/_matrix/client/v3/rooms/${encodeURIComponent(dm)}/joined_members`,
      );
      return JOE_GHOST in (members.joined as Json) ? true : undefined;
    });
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed" && bridge)
      for (const l of bridge.logs.filter(
        (l) => l.level >= 40 || /crypto|decrypt|key|transaction/i.test(l.msg),
      ))
        console.error(JSON.stringify(l).slice(0, 600));
  });

  after(async function () {
    this.timeout(60_000);
    alice?.client.stopClient();
    await joe?.client.close();
    await bridge?.kill("SIGTERM");
    await hs?.stop();
    await other?.stop();
    files?.remove();
    removeTempDirs();
  });

  const joeBodies = (): string[] =>
    people()
      .rec.messages.filter((m) => m.from === ALICE_PEOPLE && m.content.type === "text")
      .map((m) => (m.content as { body: string }).body);

  const sendText = async (body: string) => (await user().client.sendTextMessage(dm, body)).event_id;

  function ghostEvents(): MatrixEvent[] {
    return (
      user()
        .client.getRoom(dm)
        ?.getLiveTimeline()
        .getEvents()
        .filter((e) => e.getSender() === JOE_GHOST && !e.isState()) ?? []
    );
  }

  async function decryptedFromGhost(body: string): Promise<MatrixEvent> {
    return eventually(
      `"${body}" from the ghost, decrypted`,
      () =>
        ghostEvents().find(
          (e) => !e.isBeingDecrypted() && !e.isDecryptionFailure() && e.getContent().body === body,
        ),
      60_000,
    );
  }

  it("decrypts everything after a SIGKILL right after a new room key, in both directions", async function () {
    // Both ways once: the ghost's outbound session exists and is saved.
    await people().client.sendText([ALICE_PEOPLE], "j-before");
    await decryptedFromGhost("j-before");

    // A new session: its key reaches the bridge with k-1; killed as soon as k-1 is bridged.
    await user().crypto.forceDiscardSession(dm);
    await sendText("k-1");
    await eventually("k-1 at Joe", () => (joeBodies().includes("k-1") ? true : undefined), 30_000);
    await bridge!.kill("SIGKILL");

    // While the bridge is down: more in the same session, a new session, and Joe writes.
    await sendText("k-2");
    await user().crypto.forceDiscardSession(dm);
    await sendText("k-3");
    await people().client.sendText([ALICE_PEOPLE], "j-after");

    await bridge!.start();
    await eventually(
      "k-2 and k-3 at Joe",
      () => (["k-2", "k-3"].every((b) => joeBodies().includes(b)) ? true : undefined),
      60_000,
    );
    const after = await decryptedFromGhost("j-after");
    await user().client.decryptEventIfNeeded(after);
    const shield = await shieldOf(user(), after);
    assert.ok(shield.encrypted && shield.none, `shield: ${String(shield.colour)} ${String(shield.reason)}`);

    // Nothing twice, nothing announced as undecryptable, no decryption failure on Alice's side.
    for (const b of ["k-1", "k-2", "k-3"]) assert.equal(joeBodies().filter((x) => x === b).length, 1, b);
    const events = ghostEvents();
    assert.ok(!events.some((e) => /could not decrypt/.test(String(e.getContent().body))));
    assert.ok(!events.some((e) => e.isDecryptionFailure()));
    assert.ok(!bridge!.logs.some((l) => /one time key|already exists/i.test(JSON.stringify(l))));
  });
});
