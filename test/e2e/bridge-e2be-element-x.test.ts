// End-to-bridge encryption for an Element X user in "exclude insecure devices"
// mode (test/helpers/element-x-client.ts, with Element's own attachment
// library): such a client shares room keys only with devices signed by their
// owner and reads only events from them, so this passes only if each ghost's
// device is cross-signed by the ghost. Real Synapse, the bridge with
// encryption.allow, Joe on a second People server.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { BridgeConfigInput } from "../../src/bridge/config.js";
import { PeopleClient } from "../../src/people/client/people-client.js";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import {
  bridgeConfigInput,
  eventually,
  generateRegistrationWithCli,
  makeBridgeDir,
  startTestBridge,
  writeConfigFile,
  type BridgeDir,
  type TestBridge,
} from "../helpers/bridge-harness.js";
import { Recorder, clientOptions, removeTempDirs, tempDir } from "../helpers/client-fixtures.js";
import { ElementXClient, NO_SHIELD, describeShield } from "../helpers/element-x-client.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { freePort } from "../helpers/ports.js";
import { ensureSynapseInstalled, startSynapse, type SynapseHandle } from "../helpers/synapse.js";

const PEOPLE_DOMAIN = "people.test";
const OTHER = "other.test";
const JOE = `joe@${OTHER}`;
const JOE_GHOST = "@_people_joe=40other.test:localhost";

type Json = Record<string, unknown>;

const imageBytes = (seed: string): Buffer =>
  Buffer.concat([
    Buffer.from("89504e470d0a1a0a", "hex"),
    createHash("sha256").update(seed).digest(),
    Buffer.alloc(3000, seed),
  ]);

describe('end-to-bridge encryption with Element X in "exclude insecure devices" mode', function () {
  this.timeout(90_000);
  let files: BridgeDir;
  let other: TestServer;
  let hs: SynapseHandle | undefined;
  let bridge: TestBridge | undefined;
  let joe: { client: PeopleClient; rec: Recorder } | undefined;
  let bob: ElementXClient | undefined;

  const synapse = (): SynapseHandle => hs ?? assert.fail("synapse not started");
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
      permissions: { localhost: "user" },
    });
    const input: BridgeConfigInput = {
      ...base,
      encryption: { allow: true, default: true },
      people: {
        ...base.people!,
        discovery: {
          pins: { [OTHER]: `127.0.0.1:${other.handle.port}` },
          ca_files: [join(other.dataDir, "tls", "dev-cert.pem")],
        },
      },
    };
    writeConfigFile(files.configPath, input);
    const registration = await generateRegistrationWithCli(files, `http://127.0.0.1:${appservicePort}`);
    hs = await startSynapse({ appserviceRegistrations: [files.registrationPath] });
    bridge = await startTestBridge(
      { ...input, homeserver: { url: hs.url, domain: hs.serverName } },
      registration,
    );
    await bridge.handle.ready;
    const network = {
      pins: {
        [OTHER]: `127.0.0.1:${other.handle.port}`,
        [PEOPLE_DOMAIN]: `127.0.0.1:${bridge.handle.people.port}`,
      },
      ca: [other.handle.certificate, bridge.handle.people.certificate],
    };
    const client = await PeopleClient.create({ ...clientOptions(network, tempDir(JOE)), address: JOE });
    const rec = new Recorder(client);
    await client.start();
    joe = { client, rec };
  });

  after(async function () {
    this.timeout(60_000);
    bob?.stop();
    await joe?.client.close();
    await bridge?.stop();
    await hs?.stop();
    await other?.stop();
    files?.remove();
    removeTempDirs();
  });

  function received(match: (m: ReceivedMessage) => boolean): Promise<ReceivedMessage> {
    return eventually("Joe to receive a matching message", () => people().rec.messages.find(match), 30_000);
  }

  it('Element X with "exclude insecure devices": encrypted text, reaction and image both ways, no shield', async function () {
    const me = (bob = await ElementXClient.register(synapse(), "bob", { excludeInsecureDevices: true }));
    const BOB_PEOPLE = `bob@${PEOPLE_DOMAIN}`;
    const room = await me.createEncryptedDm(JOE_GHOST);
    await me.waitForAllDevicesSignedByOwner(JOE_GHOST);
    const hello = await me.sendText(room, "bob says hi");
    const m = await received(
      (x) => x.from === BOB_PEOPLE && x.content.type === "text" && x.content.body === "bob says hi",
    );
    // Element X encrypts reactions (matrix-js-sdk alone never does).
    await me.sendReaction(room, hello, "🙂");
    await received((x) => x.from === BOB_PEOPLE && x.content.type === "reaction" && x.content.key === "🙂");

    await people().client.sendText([BOB_PEOPLE], "joe to bob");
    const e = await me.waitForEvent(
      room,
      (x) => x.getSender() === JOE_GHOST && x.getContent().body === "joe to bob",
    );
    assert.equal(e.getWireType(), "m.room.encrypted");
    assert.deepEqual(await me.shieldOf(e), NO_SHIELD, describeShield(await me.shieldOf(e)));
    await people().client.send([BOB_PEOPLE], { type: "reaction", target: m.id as never, key: "👋" });
    const r = await me.waitForEvent(room, (x) => x.getSender() === JOE_GHOST && x.getType() === "m.reaction");
    assert.equal(r.getWireType(), "m.room.encrypted");
    assert.deepEqual(await me.shieldOf(r), NO_SHIELD);
    assert.equal((r.getContent()["m.relates_to"] as Json).event_id, hello);

    // Images both ways, with Element's own attachment library on the client side.
    const png = imageBytes("bob");
    await me.sendImage(room, { data: png, mimetype: "image/png", name: "bob.png", width: 4, height: 3 });
    const got = await received((x) => x.from === BOB_PEOPLE && x.content.type === "attachment");
    assert.deepEqual(
      await people().client.downloadAttachment(
        (got.content as Extract<MessageContent, { type: "attachment" }>).blob,
      ),
      png,
    );
    const back = imageBytes("joe to bob");
    await people().client.sendAttachment([BOB_PEOPLE], back, { mime: "image/png", name: "back.png" });
    const img = await me.waitForEvent(
      room,
      (x) => x.getSender() === JOE_GHOST && x.getContent().msgtype === "m.image",
    );
    assert.deepEqual(await me.shieldOf(img), NO_SHIELD);
    assert.deepEqual(Buffer.from(await me.downloadAttachment(img)), back);
  });
});
