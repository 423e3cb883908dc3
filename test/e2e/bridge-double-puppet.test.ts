// Double puppeting (bridge.double_puppet) against the real thing: a real
// Synapse with the bridge's registration and a second, double-puppet
// registration an admin adds (a user namespace over localhost, not exclusive),
// the bridge, a second real People server (other.test) for Ann, matrix-js-sdk
// as Joe's Element. Joe takes his bridge-made address to his own People device
// (`link-code`); what he sends from that device (text, an edit, a reaction, a
// redaction) shows in his portal with Ann sent by @joe:localhost himself,
// unmarked, and none of it comes back to People a second time. The tests run
// in order and share the rooms.
import assert from "node:assert/strict";
import { Preset, type MatrixEvent } from "matrix-js-sdk";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import type { MessageId } from "../../src/people/protocol/ids.js";
import { OWN_DEVICE_MARK } from "../../src/bridge/portals/own-copies.js";
import { DOUBLE_PUPPET_SOURCE } from "../../src/bridge/core/ports/puppet-side.js";
import { DOUBLE_PUPPET_DEVICE_NAME } from "../../src/bridge/adapters/puppets/double-puppets.js";
import {
  eventually,
  isBotReplyTo,
  matrixApi,
  roomMessages,
  waitForTimelineEvent,
  type MatrixUser,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN } from "../helpers/bridge-world.js";

const ANN = `ann@${OTHER}`;
const JOE_PEOPLE = `joe@${PEOPLE_DOMAIN}`;
const JOE_CLI = "joe-cli";
const BOT = "@peoplebot:localhost";
const WAIT = 60_000;

type Json = Record<string, unknown>;

describe("double puppeting on a real Synapse", function () {
  this.timeout(180_000);
  let world: BridgeWorld | undefined;
  let joe: MatrixUser;
  let management: string;
  let portal: string;
  let fromCli: { id: MessageId; eventId: string } | undefined;

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const rec = (key: string) => started().person(key).rec;
  const cli = () => started().person(JOE_CLI).client;
  const content = (e: MatrixEvent): Json => e.getContent() as Json;
  const textIs = (body: string) => (m: ReceivedMessage) =>
    m.content.type === "text" && m.content.body === body;

  async function send(roomId: string, body: string): Promise<string> {
    const c = joe.client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    return (await c.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body })).event_id;
  }

  async function command(body: string): Promise<string> {
    const id = await send(management, body);
    const reply = await waitForTimelineEvent(joe.client, management, isBotReplyTo(BOT, id), WAIT);
    return String(content(reply).body);
  }

  /** The portal's newest event matching `match`, read through the REST API. */
  async function inPortal(what: string, match: (e: Json) => boolean): Promise<Json> {
    return eventually(
      what,
      async () => (await roomMessages(started().hs, joe.accessToken, portal, 100)).find(match),
      WAIT,
    );
  }

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({ permissions: { "@joe:localhost": "user" }, doublePuppet: true });
    await world.startPeopleUser(ANN);
    joe = await world.startMatrixUser("joe");
    const { room_id: roomId } = await joe.client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [BOT],
      is_direct: true,
    });
    management = roomId;
    await waitForTimelineEvent(joe.client, roomId, (e) => e.getSender() === BOT, WAIT);
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed" && world?.bridge)
      for (const l of world.bridge.logs.lines.filter((l) => l.level >= 40))
        console.error(JSON.stringify(l).slice(0, 400));
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  it("Joe has his own People device of his bridge-made address and a portal with Ann", async function () {
    const answer = await command("link-code");
    const code = /--code ([a-z2-7-]+)/.exec(answer)?.[1] ?? assert.fail(`no code in: ${answer}`);
    await started().linkPeopleUser(JOE_PEOPLE, code, JOE_CLI);
    assert.match(await command("accounts"), /as sent by you \(double puppeting\)/);
    assert.match(await command(`dm ${ANN}`), /Started a direct chat/);
    portal = await eventually(
      "Joe's portal with Ann",
      async () => (await started().bridge.handle.store.portals.byPair(joe.userId, ANN))?.roomId,
      WAIT,
    );
    await eventually(
      "Joe's invite to the portal",
      () => (joe.client.getRoom(portal)?.getMember(joe.userId)?.membership === "invite" ? true : undefined),
      WAIT,
    );
    await joe.client.joinRoom(portal);
  });

  it("what Joe sends from his device shows in the portal sent by @joe:localhost, unmarked, and reaches Ann once", async function () {
    const id = await cli().sendText([ANN], "from my laptop, as me");
    assert.equal(
      (await eventually("Ann's copy", () => rec(ANN).messages.find(textIs("from my laptop, as me")), WAIT))
        .from,
      JOE_PEOPLE,
    );
    const e = await inPortal(
      "the message in the portal",
      (x) => (x.content as Json | undefined)?.body === "from my laptop, as me",
    );
    assert.equal(e.sender, joe.userId, "sent by Joe's own Matrix account");
    assert.equal((e.content as Json)[DOUBLE_PUPPET_SOURCE], "people");
    assert.equal((e.content as Json)["org.people.own_device"], undefined, "no marker");
    fromCli = { id, eventId: String(e.event_id) };
    // The bridge logged in a device of Joe's for it, with its token sealed in the database.
    const record = await started().bridge.handle.store.doublePuppets?.of(joe.userId);
    assert.ok(record, "the double puppet's login is stored");
    const devices = (await matrixApi(started().hs, joe.accessToken, "GET", "/_matrix/client/v3/devices"))
      .devices as {
      device_id: string;
      display_name?: string;
    }[];
    assert.equal(
      devices.find((d) => d.device_id === record.deviceId)?.display_name,
      DOUBLE_PUPPET_DEVICE_NAME,
    );
    // Nothing came back to People: after an anchor from Element reaches Ann, she has the laptop's message once.
    await send(portal, "anchor from Element");
    await eventually("the anchor at Ann", () => rec(ANN).messages.find(textIs("anchor from Element")), WAIT);
    assert.equal(rec(ANN).messages.filter(textIs("from my laptop, as me")).length, 1);
    assert.equal(
      rec(JOE_CLI).messages.filter(textIs("from my laptop, as me")).length,
      0,
      "no copy back to the laptop",
    );
    const bodies = (await roomMessages(started().hs, joe.accessToken, portal, 100)).map(
      (x) => (x.content as Json | undefined)?.body,
    );
    assert.equal(bodies.filter((b) => String(b).includes("from my laptop, as me")).length, 1);
    assert.equal(bodies.filter((b) => String(b).startsWith(OWN_DEVICE_MARK)).length, 0);
  });

  it("his edit, reaction and redaction from the device are Joe's own in the portal, and go to Ann once", async function () {
    const target = fromCli ?? assert.fail("no message from the device");
    await cli().send([ANN], { type: "edit", target: target.id, body: "from my laptop, edited" });
    const edit = await inPortal(
      "the edit in the portal",
      (x) =>
        ((x.content as Json | undefined)?.["m.relates_to"] as Json | undefined)?.rel_type === "m.replace",
    );
    assert.equal(edit.sender, joe.userId);
    assert.equal(((edit.content as Json)["m.relates_to"] as Json).event_id, target.eventId);
    assert.equal(((edit.content as Json)["m.new_content"] as Json).body, "from my laptop, edited");

    await cli().send([ANN], { type: "reaction", target: target.id, key: "👍" });
    const reaction = await inPortal("the reaction in the portal", (x) => x.type === "m.reaction");
    assert.equal(reaction.sender, joe.userId);
    assert.deepEqual((reaction.content as Json)["m.relates_to"], {
      rel_type: "m.annotation",
      event_id: target.eventId,
      key: "👍",
    });

    await cli().send([ANN], { type: "redaction", target: target.id });
    const redaction = await inPortal("the redaction in the portal", (x) => x.type === "m.room.redaction");
    assert.equal(redaction.sender, joe.userId);
    assert.equal(redaction.redacts ?? (redaction.content as Json).redacts, target.eventId);

    // Each reached Ann from the laptop only: after another anchor, one of each.
    await send(portal, "second anchor");
    await eventually("the second anchor at Ann", () => rec(ANN).messages.find(textIs("second anchor")), WAIT);
    for (const type of ["edit", "reaction", "redaction"]) {
      assert.equal(rec(ANN).messages.filter((m) => m.content.type === type).length, 1, `one ${type} at Ann`);
    }
  });

  it("logs Joe in again when the homeserver no longer knows the puppet's token", async function () {
    const old =
      (await started().bridge.handle.store.doublePuppets?.of(joe.userId)) ?? assert.fail("no login");
    const admin = await started().hs.registerUser("puppet-admin", "puppet-admin-password", { admin: true });
    await matrixApi(
      started().hs,
      admin.accessToken,
      "DELETE",
      `/_synapse/admin/v2/users/${encodeURIComponent(joe.userId)}/devices/${encodeURIComponent(old.deviceId)}`,
    );
    await cli().sendText([ANN], "after the device was signed out");
    const e = await inPortal(
      "the next message in the portal",
      (x) => (x.content as Json | undefined)?.body === "after the device was signed out",
    );
    assert.equal(e.sender, joe.userId);
    const fresh =
      (await started().bridge.handle.store.doublePuppets?.of(joe.userId)) ?? assert.fail("no login");
    assert.notEqual(fresh.deviceId, old.deviceId, "a new device");
  });
});
