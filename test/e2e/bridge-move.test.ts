// A contact who moves, seen from Matrix: Alice (matrix-js-sdk, real Synapse)
// has a DM portal with joe@other.test; Joe moves to joe@third.test (a third
// real People server). The portal continues in the same room under Joe's new
// ghost, with a line saying he moved (checked with his account key), and the
// conversation goes on both ways. The tests run in order and share the rooms.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Preset, type MatrixEvent } from "matrix-js-sdk";
import { PeopleClient } from "../../src/people/client/people-client.js";
import {
  eventually,
  isBotReplyTo,
  waitForTimelineEvent,
  type MatrixUser,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf } from "../helpers/bridge-world.js";
import { Recorder, clientOptions, tempDir } from "../helpers/client-fixtures.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { freePort } from "../helpers/ports.js";

const THIRD = "third.test";
const OLD = `joe@${OTHER}`;
const NEW = `joe@${THIRD}`;
const BOT = "@peoplebot:localhost";
type Json = Record<string, unknown>;

describe("a contact's move, in Matrix", function () {
  this.timeout(120_000);
  let third: TestServer | undefined;
  let world: BridgeWorld | undefined;
  let alice: MatrixUser;
  let joe: { client: PeopleClient; rec: Recorder } | undefined;
  let portal: string;

  const content = (e: MatrixEvent): Json => e.getContent() as Json;
  const texts = () => joe!.rec.messages.map((m) => (m.content.type === "text" ? m.content.body : ""));

  async function send(roomId: string, body: string): Promise<string> {
    const client = alice.client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    return (await client.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body })).event_id;
  }

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    const thirdPort = await freePort();
    third = await startTestServer(THIRD, { config: { listen: { host: "127.0.0.1", port: thirdPort } } });
    const thirdCa = join(third.dataDir, "tls", "dev-cert.pem");
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user" },
      configure: (i) => ({
        ...i,
        people: {
          ...i.people!,
          discovery: {
            pins: { ...i.people!.discovery!.pins, [THIRD]: `127.0.0.1:${thirdPort}` },
            ca_files: [...(i.people!.discovery!.ca_files ?? []), thirdCa],
          },
        },
      }),
    });
    const w = world;
    const network = {
      pins: {
        [OTHER]: `127.0.0.1:${w.other.handle.port}`,
        [THIRD]: `127.0.0.1:${thirdPort}`,
        [PEOPLE_DOMAIN]: `127.0.0.1:${w.input.people!.listen!.port}`,
      },
      ca: [w.other.handle.certificate, third.handle.certificate, w.bridge.handle.people.certificate],
    };
    const client = await PeopleClient.create({ ...clientOptions(network, tempDir("joe")), address: OLD });
    joe = { client, rec: new Recorder(client) };
    await client.start();
    alice = await w.startMatrixUser("alice");
  });

  after(async function () {
    this.timeout(120_000);
    await joe?.client.close();
    await world?.stop();
    await third?.stop();
  });

  it("Alice talks with joe@other.test in a DM portal", async function () {
    const { room_id: management } = await alice.client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [BOT],
      is_direct: true,
    });
    await waitForTimelineEvent(alice.client, management, (e) => e.getSender() === BOT);
    const id = await send(management, `dm ${OLD}`);
    const reply = await waitForTimelineEvent(alice.client, management, isBotReplyTo(BOT, id));
    assert.match(String(content(reply).body), /Started a direct chat/);
    portal = await eventually(
      "the portal",
      async () => (await world!.bridge.handle.store.portals.byPair(alice.userId, OLD))?.roomId,
    );
    await eventually("the invite", () =>
      alice.client.getRoom(portal)?.getMember(alice.userId)?.membership === "invite" ? true : undefined,
    );
    await alice.client.joinRoom(portal);
    await send(portal, "hello joe");
    await eventually("Joe reads Alice", () => (texts().includes("hello joe") ? true : undefined));
  });

  it("Joe moves: the same room continues under his new ghost, with the line saying so", async function () {
    const moved = await joe!.client.move(NEW);
    assert.equal(moved.to, NEW);
    const line = await waitForTimelineEvent(
      alice.client,
      portal,
      (e) =>
        e.getSender() === ghostOf(NEW) &&
        content(e).msgtype === "m.notice" &&
        String(content(e).body).includes(`${OLD} moved to ${NEW} (verified with their account key)`),
      90_000,
    );
    assert.doesNotMatch(String(content(line).body), /WARNING/);
    assert.equal((await world!.bridge.handle.store.portals.byPair(alice.userId, NEW))?.roomId, portal);
    await eventually("the new ghost in the room", () =>
      alice.client.getRoom(portal)?.getMember(ghostOf(NEW))?.membership === "join" ? true : undefined,
    );
  });

  it("the conversation goes on both ways in the same room", async function () {
    await joe!.client.sendText([`alice@${PEOPLE_DOMAIN}`], "hello from third.test");
    await waitForTimelineEvent(
      alice.client,
      portal,
      (e) => e.getSender() === ghostOf(NEW) && content(e).body === "hello from third.test",
      60_000,
    );
    await send(portal, "welcome to third");
    await eventually("Joe reads Alice at his new address", () =>
      texts().includes("welcome to third") ? true : undefined,
    );
    const m = joe!.rec.messages.find(
      (x) => x.content.type === "text" && x.content.body === "welcome to third",
    )!;
    assert.deepEqual(m.to, [NEW]);
  });
});
