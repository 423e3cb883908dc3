// The bridge reaches an onion-only People server through Tor: on the private
// Tor network the harness starts on loopback (test/helpers/tor-network.ts,
// shared with the other Tor tests of the run), Jane's server is an onion
// service with no DNS name and no public certificate; the bridge (people.tor.socks)
// and Jane's device reach it through the SOCKS port. Alice, an Element-like
// matrix-js-sdk user on the real Synapse, DMs jane@<onion>.onion and gets her answer.
import assert from "node:assert/strict";
import { Preset } from "matrix-js-sdk";
import { PeopleClient } from "../../src/people/client/people-client.js";
import { onionKey } from "../../src/people/server/onion.js";
import {
  eventually,
  isBotReplyTo,
  waitForTimelineEvent,
  type MatrixUser,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, PEOPLE_DOMAIN, ghostOf } from "../helpers/bridge-world.js";
import { Recorder, clientOptions, tempDir } from "../helpers/client-fixtures.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { torNetwork, type TorNetwork } from "../helpers/tor-network.js";

const BOT = "@peoplebot:localhost";
const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
/** Tor on a loaded 2-core machine: safety nets, not timings. */
const OVER_TOR = 180_000;

/** Sends a Matrix event as Alice's client would; returns its id. */
async function sendMessage(user: MatrixUser, roomId: string, body: string): Promise<string> {
  const client = user.client as unknown as {
    sendEvent(room: string, type: string, content: Record<string, unknown>): Promise<{ event_id: string }>;
  };
  return (await client.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body })).event_id;
}

describe("The bridge and an onion-only People server, over Tor", function () {
  this.timeout(OVER_TOR);
  let net: TorNetwork;
  let janeServer: TestServer | undefined;
  let world: BridgeWorld | undefined;
  let alice: MatrixUser;
  let jane: PeopleClient | undefined;
  let janeRec: Recorder;
  let JANE: string;
  /** Alice's room with the bot. */
  let management: string;

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse; the Tor network takes minutes on a loaded machine
    net = await torNetwork();
    const dir = tempDir("jane-onion");
    const onion = onionKey(dir).address;
    JANE = `jane@${onion}`;
    janeServer = await startTestServer(onion, {
      dataDir: dir,
      config: { onion: { control_port: net.controlPort }, tor: { socks: net.socks } },
    });
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user" },
      // What an admin adds to reach onions: Tor's SOCKS port.
      configure: (input) => ({ ...input, people: { ...input.people!, tor: { socks: net.socks } } }),
    });
    await net.waitForDescriptor(onion);
    // Jane's device reaches her onion through Tor, and the bridge's server on loopback.
    jane = await PeopleClient.create({
      ...clientOptions(
        {
          pins: { [PEOPLE_DOMAIN]: `127.0.0.1:${world.input.people!.listen!.port}` },
          ca: [world.bridge.handle.people.certificate],
        },
        tempDir("jane"),
      ),
      tor: { socks: net.socks },
      backoff: { baseMs: 500, maxMs: 4000 },
      address: JANE,
    });
    janeRec = new Recorder(jane);
    await jane.start();
    alice = await world.startMatrixUser("alice");
  });

  after(async function () {
    this.timeout(120_000);
    await jane?.close().catch(() => undefined);
    await janeServer?.stop();
    await world?.stop(); // removes the temp dirs too
  });

  it("Alice DMs jane@<onion>.onion from Element and gets her answer in the portal", async () => {
    ({ room_id: management } = await alice.client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [BOT],
      is_direct: true,
    }));
    await waitForTimelineEvent(alice.client, management, (e) => e.getSender() === BOT, OVER_TOR);
    const command = await sendMessage(alice, management, `dm ${JANE}`);
    const reply = await waitForTimelineEvent(alice.client, management, isBotReplyTo(BOT, command), OVER_TOR);
    assert.match(String(reply.getContent().body), /Started a direct chat with/);

    const portal = await eventually(
      "the portal",
      async () => (await world!.bridge.handle.store.portals.byPair(alice.userId, JANE))?.roomId,
      OVER_TOR,
    );
    await eventually(
      "the invite to reach Alice's client",
      () => (alice.client.getRoom(portal)?.getMyMembership() === "invite" ? true : undefined),
      OVER_TOR,
    );
    await alice.client.joinRoom(portal);

    await sendMessage(alice, portal, "hello Jane, through Tor");
    await eventually(
      "Jane to get Alice's message",
      () =>
        janeRec.messages.find(
          (m) => m.content.type === "text" && m.content.body === "hello Jane, through Tor",
        ),
      OVER_TOR,
    ).then((m) => assert.equal(m.from, ALICE_PEOPLE));

    await jane!.sendText([ALICE_PEOPLE], "hi Alice, from the onion");
    const answer = await waitForTimelineEvent(
      alice.client,
      portal,
      (e) => e.getSender() === ghostOf(JANE) && e.getContent().body === "hi Alice, from the onion",
      OVER_TOR,
    );
    assert.equal(answer.getContent().msgtype, "m.text");
  });

  it("says plainly when an onion service is not reachable", async () => {
    const nowhere = `nobody@${onionKey(tempDir("nowhere")).address}`;
    const command = await sendMessage(alice, management, `dm ${nowhere}`);
    const reply = await waitForTimelineEvent(alice.client, management, isBotReplyTo(BOT, command), OVER_TOR);
    assert.match(String(reply.getContent().body), /The onion service [a-z2-7]{56}\.onion is not reachable/);
  });
});
