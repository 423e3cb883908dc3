// Relay mode against the real thing: a real Synapse, the bridge with
// bridge.relay.enabled, a second real People server with Joe and Ann as
// PeopleClients, and Matrix users on matrix-js-sdk: Alice (a bridged user, who
// becomes the relay), Carol (permitted as "relay": no People address), Dave (not
// permitted at all). Joe's group message makes a room with Alice; Alice brings
// Carol and Dave in. The tests run in order and share the room.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { MatrixEvent } from "matrix-js-sdk";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import { NO_RELAY_TEXT, RELAY_ONLY_TEXT } from "../../src/bridge/portals/room-relay.js";
import { REFUSAL } from "../../src/bridge/core/bot.js";
import {
  eventually,
  waitForTimelineEvent,
  type MatrixUser,
  type TestBridge,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf, keyOf, textIs } from "../helpers/bridge-world.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const ANN = `ann@${OTHER}`;

type Json = Record<string, unknown>;
const sorted = (xs: readonly string[]) => [...xs].sort();

describe("relay mode in a group room on a real Synapse", function () {
  this.timeout(180_000); // generous: Synapse on a busy 2-core machine; every wait ends when its condition holds
  let world: BridgeWorld | undefined;
  const users: Record<string, MatrixUser> = {};
  let room: string;

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const running = (): TestBridge => started().bridge;
  const user = (name: string): MatrixUser => users[name] ?? assert.fail(`${name} not logged in`);

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user", "@carol:localhost": "relay" },
      configure: (input) => ({ ...input, bridge: { ...input.bridge, relay: { enabled: true } } }),
    });
    for (const address of [JOE, ANN]) await world.startPeopleUser(address);
    for (const name of ["alice", "carol", "dave"]) users[name] = await world.startMatrixUser(name);
    await user("carol").client.setDisplayName("Carol C");
    await running().handle.accounts.accountFor(user("alice").userId);
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") world?.printBridgeWarnings();
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  const content = (e: MatrixEvent): Json => e.getContent() as Json;
  const rec = (address: string) => started().person(address).rec;
  const received = (address: string, match: (m: ReceivedMessage) => boolean) =>
    started().received(address, match);

  async function send(name: string, type: string, body: Json): Promise<string> {
    const c = user(name).client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    return (await c.sendEvent(room, type, body)).event_id;
  }
  const text = (name: string, body: string) => send(name, "m.room.message", { msgtype: "m.text", body });

  /** The ghost's notice in reply to `eventId`, as Alice sees it. */
  async function answerTo(eventId: string): Promise<string> {
    const e = await waitForTimelineEvent(
      user("alice").client,
      room,
      (x) =>
        content(x).msgtype === "m.notice" &&
        (content(x)["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.[
          "m.in_reply_to"
        ]?.event_id === eventId,
      60_000,
    );
    return String(content(e).body);
  }

  async function join(name: string): Promise<void> {
    await user("alice").client.invite(room, user(name).userId);
    await eventually(`the invite to reach ${name}`, () =>
      user(name).client.getRoom(room)?.getMember(user(name).userId)?.membership === "invite"
        ? true
        : undefined,
    );
    await user(name).client.joinRoom(room);
    await waitForTimelineEvent(
      user("alice").client,
      room,
      (e) =>
        e.getType() === "m.room.member" &&
        e.getStateKey() === user(name).userId &&
        content(e).membership === "join",
    );
  }

  it("a member without a People address is told the room has no relay, and nothing is sent", async function () {
    await started().person(JOE).client.sendText([ALICE_PEOPLE, ANN], "hello group");
    const group = await eventually("the group portal", () =>
      running().handle.store.groups.bySetKey(keyOf(JOE, ANN, ALICE_PEOPLE)),
    );
    room = group.roomId;
    await eventually("Alice's invite", () =>
      user("alice").client.getRoom(room)?.getMember(user("alice").userId)?.membership === "invite"
        ? true
        : undefined,
    );
    await user("alice").client.joinRoom(room);
    await waitForTimelineEvent(user("alice").client, room, (e) => content(e).body === "hello group");
    await join("carol");
    const unsent = await text("carol", "nobody hears me");
    assert.equal(await answerTo(unsent), NO_RELAY_TEXT);
    assert.equal(rec(JOE).messages.filter(textIs("nobody hears me")).length, 0);
    // Carol is not a participant: the set is unchanged.
    assert.deepEqual(
      (await running().handle.store.groups.byRoom(room))?.members.map((m) => m.address),
      sorted([ALICE_PEOPLE, ANN, JOE]),
    );
  });

  it("Carol cannot make herself the relay; Alice (a room admin with an address) can, and it is stored", async function () {
    const refused = await text("carol", "!people set-relay");
    assert.match(await answerTo(refused), /Only a participant of this People conversation/);
    assert.equal(await running().handle.store.relays.get(room), undefined);
    const set = await text("alice", "!people set-relay");
    assert.match(await answerTo(set), /now sent through your People account as "Carol: hello"/);
    assert.equal((await running().handle.store.relays.get(room))?.matrixUser, user("alice").userId);
  });

  it("Carol's message goes out from Alice's account as \"Carol C: …\", to everyone else, once", async function () {
    const event = await text("carol", "hi via relay");
    for (const address of [JOE, ANN]) {
      const m = await received(address, textIs("Carol C: hi via relay"));
      assert.equal(m.from, ALICE_PEOPLE);
      assert.deepEqual(sorted(m.to), sorted([ANN, JOE]));
    }
    const mapped = await eventually("the relayed event's mapping", () =>
      running().handle.store.messages.byEvent(event),
    );
    assert.equal(mapped.peopleSender, ALICE_PEOPLE);
    // The commands themselves never left the room.
    for (const address of [JOE, ANN])
      assert.equal(rec(address).messages.filter((m) => /!people/.test(JSON.stringify(m.content))).length, 0);
    // Joe answers the relayed message: it shows in the same room.
    await started().person(JOE).client.send([ALICE_PEOPLE, ANN], {
      type: "text",
      body: "hi carol",
      reply_to: mapped.peopleMessageId,
    });
    await waitForTimelineEvent(
      user("carol").client,
      room,
      (e) => e.getSender() === ghostOf(JOE) && content(e).body === "hi carol",
    );
  });

  it("Carol's image goes out with a caption naming her", async function () {
    const bytes = Buffer.concat([
      Buffer.from("89504e470d0a1a0a", "hex"),
      createHash("sha256").update("carol").digest(),
      Buffer.alloc(2000, 7),
    ]);
    const res = await fetch(`${started().hs.url}/_matrix/media/v3/upload?filename=view.png`, {
      method: "POST",
      headers: { authorization: `Bearer ${user("carol").accessToken}`, "content-type": "image/png" },
      body: bytes,
    });
    assert.ok(res.ok, `upload: ${res.status}`);
    const { content_uri: url } = (await res.json()) as { content_uri: string };
    await send("carol", "m.room.message", {
      msgtype: "m.image",
      body: "what a view",
      filename: "view.png",
      url,
      info: { mimetype: "image/png", size: bytes.length },
    });
    const m = await received(JOE, (x) => x.content.type === "attachment");
    assert.equal(m.from, ALICE_PEOPLE);
    const attachment = m.content as Extract<MessageContent, { type: "attachment" }>;
    assert.equal(attachment.caption, "Carol C sent an image: what a view");
    assert.equal(attachment.blob.name, "view.png");
    assert.deepEqual(await started().person(JOE).client.downloadAttachment(attachment.blob), bytes);
  });

  it("Carol's reaction and blank message are not relayed but answered; Dave, not permitted, is refused", async function () {
    const target = await waitForTimelineEvent(
      user("carol").client,
      room,
      (e) => e.getSender() === ghostOf(JOE) && content(e).body === "hi carol",
    );
    const reaction = await send("carol", "m.reaction", {
      "m.relates_to": { rel_type: "m.annotation", event_id: target.getId(), key: "👍" },
    });
    assert.equal(await answerTo(reaction), RELAY_ONLY_TEXT);
    await join("dave");
    // What is answered for everyone is answered for Carol too, not relayed as "Carol C:   ".
    const blank = await text("carol", "   ");
    assert.match(await answerTo(blank), /^Not delivered to .*: The message is empty/);
    const refused = await text("dave", "let me in");
    assert.equal(await answerTo(refused), REFUSAL);
    assert.equal(rec(JOE).messages.filter((m) => m.content.type === "reaction").length, 0);
    assert.equal(rec(JOE).messages.filter((m) => textIs("Carol C:    ")(m)).length, 0);
    assert.equal(rec(JOE).messages.filter((m) => JSON.stringify(m.content).includes("let me in")).length, 0);
  });

  it("Alice unsets the relay: Carol is told again, and nothing more goes out", async function () {
    const unset = await text("alice", "!people unset-relay");
    assert.match(await answerTo(unset), /Stopped relaying/);
    assert.equal(await running().handle.store.relays.get(room), undefined);
    const unsent = await text("carol", "still there?");
    assert.equal(await answerTo(unsent), NO_RELAY_TEXT);
    assert.equal(
      rec(JOE).messages.filter((m) => JSON.stringify(m.content).includes("still there?")).length,
      0,
    );
  });
});
