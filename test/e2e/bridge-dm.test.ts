// DM portals both ways, against the real thing: a real Synapse, the bridge
// with its embedded People server (people.test), a second real People server
// (other.test) and People users there (Joe, Ann, Bob) as PeopleClients, over
// real TLS with each side trusting the other's development certificate and
// pinning its address. Alice is an Element-like matrix-js-sdk user. The tests
// run in order and share the rooms.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Preset, type MatrixEvent } from "matrix-js-sdk";
import { BRIDGE_SECRET_FILE } from "../../src/bridge/adapters/accounts/bridge-secret.js";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import {
  eventually,
  isBotReplyTo,
  matrixApi,
  roomMessages,
  waitForTimelineEvent,
  type MatrixUser,
  type TestBridge,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN } from "../helpers/bridge-world.js";
import type { SynapseHandle } from "../helpers/synapse.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const JOE_GHOST = "@_people_joe=40other.test:localhost";
const BOT = "@peoplebot:localhost";

type Json = Record<string, unknown>;

describe("DM portals on a real Synapse and a second People server", function () {
  this.timeout(180_000); // generous: Synapse on a busy 2-core machine; every wait ends when its condition holds
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let managementRoom: string;
  let portal: string;
  /** Fail the People → Matrix flow once, after the Matrix send, for messages with this body. */
  let crashAfterSend: string | undefined;
  let crashes = 0;

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const running = (): TestBridge => started().bridge;
  const synapse = (): SynapseHandle => started().hs;
  const user = (): MatrixUser => alice ?? assert.fail("alice not logged in");
  const joe = () => started().person(JOE);
  const startBridge = () => started().startBridge();

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user" },
      bridgeOptions: {
        hooks: {
          afterMatrixSend(m) {
            if (m.content.type === "text" && m.content.body === crashAfterSend) {
              crashAfterSend = undefined;
              crashes++;
              throw new Error("simulated crash between the Matrix send and the mapping");
            }
          },
        },
      },
    });
    for (const address of [JOE, `ann@${OTHER}`, `bob@${OTHER}`]) await world.startPeopleUser(address);
    alice = await world.startMatrixUser("alice");
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  // --- helpers -------------------------------------------------------------

  /** The next message (after `seen`) that `address` receives and that matches. */
  async function received(
    address: string,
    match: (m: ReceivedMessage) => boolean,
    timeoutMs = 20_000,
  ): Promise<ReceivedMessage> {
    const rec = started().person(address).rec;
    return eventually(`${address} to receive a matching message`, () => rec.messages.find(match), timeoutMs);
  }

  const content = (e: MatrixEvent): Json => e.getContent() as Json;
  const fromGhost = (ghost: string, pred: (c: Json, e: MatrixEvent) => boolean) => (e: MatrixEvent) =>
    e.getSender() === ghost && pred(content(e), e);

  async function send(roomId: string, type: string, body: Json): Promise<string> {
    const client = user().client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    return (await client.sendEvent(roomId, type, body)).event_id;
  }

  /** Waits for the ghost's invite (a direct chat, as Element shows it), then joins. */
  async function joinInvite(roomId: string): Promise<void> {
    const invite = await eventually("the invite to reach Alice's client", () => {
      const member = user().client.getRoom(roomId)?.getMember(user().userId);
      return member?.membership === "invite" ? member.events.member : undefined;
    });
    assert.equal(invite?.getContent().is_direct, true);
    await user().client.joinRoom(roomId);
    await waitForTimelineEvent(
      user().client,
      roomId,
      (e) => e.getType() === "m.room.member" && e.getStateKey() === user().userId,
    );
  }

  async function countBodies(roomId: string, body: string): Promise<number> {
    const events = await roomMessages(synapse(), user().accessToken, roomId, 100);
    return events.filter((e) => (e.content as Json | undefined)?.body === body).length;
  }

  // Ids shared by the tests, in order.
  let helloEvent: string;
  let helloMessage: string;
  let hiMessage: string;
  let hiEvent: string;

  // --- the tests -------------------------------------------------------------

  it("starts a DM with `dm joe@other.test`: the ghost creates the room and invites Alice", async function () {
    const { room_id: roomId } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [BOT],
      is_direct: true,
    });
    managementRoom = roomId;
    await waitForTimelineEvent(user().client, roomId, (e) => e.getSender() === BOT);
    const command = await send(managementRoom, "m.room.message", { msgtype: "m.text", body: `dm ${JOE}` });
    const reply = await waitForTimelineEvent(user().client, managementRoom, isBotReplyTo(BOT, command));
    assert.match(String(content(reply).body), /Started a direct chat with `joe@other.test`/);

    const found = await running().handle.store.portals.byPair(user().userId, JOE);
    portal = found?.roomId ?? assert.fail("no portal recorded");
    await joinInvite(portal);
    const room = user().client.getRoom(portal) ?? assert.fail("the portal is not in Alice's client");
    assert.equal(room.currentState.getStateEvents("m.room.create", "")?.getSender(), JOE_GHOST);
    const members = await matrixApi(
      synapse(),
      user().accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(portal)}/joined_members`,
    );
    const joined = members.joined as Record<string, { display_name?: string }>;
    assert.deepEqual(Object.keys(joined).sort(), [JOE_GHOST, user().userId].sort());
    // Joe published no profile: the address, through the default displayname_template.
    assert.equal(joined[JOE_GHOST]?.display_name, `${JOE} (People)`);
    // As Element Web makes rooms: every member may join the room's call (MatrixRTC membership).
    const levels = await matrixApi(
      synapse(),
      user().accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(portal)}/state/m.room.power_levels/`,
    );
    const events = levels.events as Record<string, number>;
    for (const type of ["org.matrix.msc3401.call.member", "m.call.member", "org.matrix.msc4143.rtc.member"])
      assert.equal(events[type], 0, `${type} at level 0`);
    assert.equal(events["m.room.power_levels"], 100, "Synapse's other levels kept");

    // The same command again points at the same room.
    const again = await send(managementRoom, "m.room.message", { msgtype: "m.text", body: `dm ${JOE}` });
    const second = await waitForTimelineEvent(user().client, managementRoom, isBotReplyTo(BOT, again));
    assert.match(String(content(second).body), /already have a direct chat/);
  });

  it("gave Alice a People account, with its keys under the data dir and the bridge secret 0600", async function () {
    const dataDir = running().config.people.data_dir;
    assert.equal(statSync(join(dataDir, BRIDGE_SECRET_FILE)).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(dataDir, BRIDGE_SECRET_FILE)).length, 32);
    const hash = createHash("sha256").update(user().userId).digest("hex");
    assert.ok(existsSync(join(dataDir, "users", hash)));
    assert.equal((await running().handle.store.peopleAccounts.get(user().userId))?.address, ALICE_PEOPLE);
    assert.ok(await running().handle.people.store.accounts.get(ALICE_PEOPLE as never));
  });

  it("refuses `dm` to an address without a People account", async function () {
    const command = await send(managementRoom, "m.room.message", {
      msgtype: "m.text",
      body: `dm nobody@${OTHER}`,
    });
    const reply = await waitForTimelineEvent(user().client, managementRoom, isBotReplyTo(BOT, command));
    assert.match(String(content(reply).body), /nobody@other.test has no People account/);
  });

  it("Matrix → People: Alice's text reaches Joe from alice@people.test", async function () {
    helloEvent = await send(portal, "m.room.message", { msgtype: "m.text", body: "hello joe" });
    const m = await received(JOE, (x) => x.content.type === "text" && x.content.body === "hello joe");
    assert.equal(m.from, ALICE_PEOPLE);
    assert.deepEqual(m.to, [JOE]);
    helloMessage = m.id;
    const mapping = await running().handle.store.messages.byEvent(helloEvent);
    assert.equal(mapping?.peopleMessageId, helloMessage);
  });

  it("People → Matrix: Joe's reply appears in the portal from his ghost", async function () {
    hiMessage = await joe().client.sendText([ALICE_PEOPLE], "hi alice");
    const e = await waitForTimelineEvent(
      user().client,
      portal,
      fromGhost(JOE_GHOST, (c) => c.body === "hi alice" && c.msgtype === "m.text"),
    );
    hiEvent = e.getId()!;
    assert.equal((await running().handle.store.messages.byEvent(hiEvent))?.peopleMessageId, hiMessage);
  });

  it("formatted text both ways", async function () {
    await send(portal, "m.room.message", {
      msgtype: "m.text",
      body: "very bold",
      format: "org.matrix.custom.html",
      formatted_body: "very <strong>bold</strong>",
    });
    const m = await received(JOE, (x) => x.content.type === "text" && x.content.body === "very bold");
    assert.match((m.content as { html?: string }).html ?? "", /<strong>bold<\/strong>/);

    await joe().client.send([ALICE_PEOPLE], { type: "text", body: "so italic", html: "so <em>italic</em>" });
    const e = await waitForTimelineEvent(
      user().client,
      portal,
      fromGhost(JOE_GHOST, (c) => c.body === "so italic"),
    );
    assert.equal(content(e).format, "org.matrix.custom.html");
    assert.match(String(content(e).formatted_body), /<em>italic<\/em>/);
  });

  it("replies both ways", async function () {
    await send(portal, "m.room.message", {
      msgtype: "m.text",
      body: "answering you",
      "m.relates_to": { "m.in_reply_to": { event_id: hiEvent } },
    });
    const m = await received(JOE, (x) => x.content.type === "text" && x.content.body === "answering you");
    assert.equal((m.content as { reply_to?: string }).reply_to, hiMessage);

    await joe().client.send([ALICE_PEOPLE], { type: "text", body: "answering back", reply_to: helloMessage });
    const e = await waitForTimelineEvent(
      user().client,
      portal,
      fromGhost(JOE_GHOST, (c) => c.body === "answering back"),
    );
    const rel = content(e)["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } };
    assert.equal(rel["m.in_reply_to"]?.event_id, helloEvent);
  });

  it("edits both ways", async function () {
    await send(portal, "m.room.message", {
      msgtype: "m.text",
      body: "* hello joe!",
      "m.new_content": { msgtype: "m.text", body: "hello joe!" },
      "m.relates_to": { rel_type: "m.replace", event_id: helloEvent },
    });
    const m = await received(JOE, (x) => x.content.type === "edit");
    assert.deepEqual(m.content, { type: "edit", target: helloMessage, body: "hello joe!" });

    await joe().client.send([ALICE_PEOPLE], { type: "edit", target: hiMessage, body: "hi alice!" });
    const e = await waitForTimelineEvent(
      user().client,
      portal,
      fromGhost(JOE_GHOST, (c) => (c["m.relates_to"] as Json | undefined)?.rel_type === "m.replace"),
    );
    assert.deepEqual(content(e)["m.relates_to"], { rel_type: "m.replace", event_id: hiEvent });
    assert.equal((content(e)["m.new_content"] as Json).body, "hi alice!");
  });

  let aliceReaction: string;
  let joeReaction: string;

  it("reactions both ways", async function () {
    aliceReaction = await send(portal, "m.reaction", {
      "m.relates_to": { rel_type: "m.annotation", event_id: hiEvent, key: "👍" },
    });
    const m = await received(JOE, (x) => x.content.type === "reaction");
    assert.deepEqual(m.content, { type: "reaction", target: hiMessage, key: "👍" });

    joeReaction = await joe().client.send([ALICE_PEOPLE], {
      type: "reaction",
      target: helloMessage,
      key: "🎉",
    });
    const e = await waitForTimelineEvent(
      user().client,
      portal,
      (x) => x.getType() === "m.reaction" && x.getSender() === JOE_GHOST,
    );
    assert.deepEqual(content(e)["m.relates_to"], {
      rel_type: "m.annotation",
      event_id: helloEvent,
      key: "🎉",
    });
  });

  it("redactions both ways (of one's own messages only)", async function () {
    await user().client.redactEvent(portal, aliceReaction);
    const m = await received(JOE, (x) => x.content.type === "redaction");
    const aliceReactionMessage = (await running().handle.store.messages.byEvent(aliceReaction))!
      .peopleMessageId;
    assert.deepEqual(m.content, { type: "redaction", target: aliceReactionMessage });

    // Joe cannot take back Alice's message; his own reaction he can.
    await joe().client.send([ALICE_PEOPLE], { type: "redaction", target: helloMessage } as MessageContent);
    await joe().client.send([ALICE_PEOPLE], { type: "redaction", target: joeReaction });
    const joeReactionEvent = await eventually(
      "the mapping of Joe's reaction",
      async () => (await running().handle.store.messages.byMessage(JOE, joeReaction))?.matrixEventId,
    );
    const redaction = await waitForTimelineEvent(
      user().client,
      portal,
      (x) => x.getType() === "m.room.redaction" && x.getSender() === JOE_GHOST,
    );
    assert.equal(redaction.event.redacts ?? content(redaction).redacts, joeReactionEvent);
    const hello = user().client.getRoom(portal)?.findEventById(helloEvent);
    assert.equal(hello?.isRedacted(), false);
  });

  it("answers what cannot be bridged with a notice from the ghost", async function () {
    const location = await send(portal, "m.room.message", {
      msgtype: "org.example.hologram",
      body: "here",
    });
    const notice = await waitForTimelineEvent(
      user().client,
      portal,
      fromGhost(
        JOE_GHOST,
        (c) =>
          c.msgtype === "m.notice" &&
          (c["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.["m.in_reply_to"]
            ?.event_id === location,
      ),
    );
    assert.match(String(content(notice).body), /Not delivered to joe@other.test: This kind of message/);
  });

  it("answers a call invite People cannot carry and a whitespace-only message with a notice each (none vanishes)", async function () {
    const inReplyTo = (id: string) =>
      fromGhost(
        JOE_GHOST,
        (c) =>
          c.msgtype === "m.notice" &&
          (c["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined)?.["m.in_reply_to"]
            ?.event_id === id,
      );
    const call = await send(portal, "m.call.invite", {
      call_id: "registry-call",
      party_id: "alice-device",
      version: "1",
      lifetime: 60_000,
      offer: { type: "offer", sdp: "v=0" },
    });
    const blank = await send(portal, "m.room.message", { msgtype: "m.text", body: "  \n  " });
    const callNotice = await waitForTimelineEvent(user().client, portal, inReplyTo(call));
    // An offer without a DTLS fingerprint cannot become a People call (PROTOCOL §11.3.1).
    assert.match(String(content(callNotice).body), /The call to joe@other.test could not be placed/);
    const blankNotice = await waitForTimelineEvent(user().client, portal, inReplyTo(blank));
    assert.match(String(content(blankNotice).body), /Not delivered to joe@other.test: The message is empty/);
  });

  // --- media, receipts, typing ---------------------------------------------

  const pngBytes = (seed: string): Buffer =>
    Buffer.concat([
      Buffer.from("89504e470d0a1a0a", "hex"),
      createHash("sha256").update(seed).digest(),
      Buffer.alloc(3000, seed),
    ]);

  it("Matrix → People: Alice's image reaches Joe and decrypts to the same bytes", async function () {
    const bytes = pngBytes("alice");
    const res = await fetch(`${synapse().url}/_matrix/media/v3/upload?filename=cat.png`, {
      method: "POST",
      headers: { authorization: `Bearer ${user().accessToken}`, "content-type": "image/png" },
      body: bytes,
    });
    assert.ok(res.ok, `upload: ${res.status}`);
    const { content_uri: mxc } = (await res.json()) as { content_uri: string };
    const event = await send(portal, "m.room.message", {
      msgtype: "m.image",
      body: "cat.png",
      url: mxc,
      info: { mimetype: "image/png", size: bytes.length, w: 4, h: 3 },
    });
    const m = await received(JOE, (x) => x.content.type === "attachment");
    assert.equal(m.from, ALICE_PEOPLE);
    const attachment = m.content as Extract<MessageContent, { type: "attachment" }>;
    assert.equal(attachment.blob.mime, "image/png");
    assert.equal(attachment.blob.name, "cat.png");
    assert.equal(attachment.blob.size, bytes.length);
    assert.deepEqual(await joe().client.downloadAttachment(attachment.blob), bytes);
    assert.equal((await running().handle.store.messages.byEvent(event))?.peopleMessageId, m.id);
  });

  it("People → Matrix: Joe's image appears in the portal, and the homeserver serves the same bytes", async function () {
    const bytes = pngBytes("joe");
    const id = await joe().client.sendAttachment([ALICE_PEOPLE], bytes, {
      mime: "image/png",
      name: "joe.png",
    });
    const e = await waitForTimelineEvent(
      user().client,
      portal,
      fromGhost(JOE_GHOST, (c) => c.msgtype === "m.image"),
    );
    assert.equal(content(e).body, "joe.png");
    const url = String(content(e).url);
    const match = /^mxc:\/\/([^/]+)\/(.+)$/.exec(url) ?? assert.fail(`not an mxc URI: ${url}`);
    const res = await fetch(`${synapse().url}/_matrix/client/v1/media/download/${match[1]}/${match[2]}`, {
      headers: { authorization: `Bearer ${user().accessToken}` },
    });
    assert.ok(res.ok, `download: ${res.status}`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
    assert.equal((await running().handle.store.messages.byEvent(e.getId()!))?.peopleMessageId, id);
  });

  it("read receipts both ways", async function () {
    const id = await joe().client.sendText([ALICE_PEOPLE], "read me");
    const e = await waitForTimelineEvent(
      user().client,
      portal,
      fromGhost(JOE_GHOST, (c) => c.body === "read me"),
    );
    const path = (eventId: string) =>
      `/_matrix/client/v3/rooms/${encodeURIComponent(portal)}/receipt/m.read/${encodeURIComponent(eventId)}`;
    await matrixApi(synapse(), user().accessToken, "POST", path(e.getId()!), {});
    const r = await received(
      JOE,
      (x) => x.content.type === "receipt" && x.content.targets.includes(id as never),
    );
    assert.equal(r.from, ALICE_PEOPLE);

    // Joe reads Alice's latest message: his ghost's read receipt lands on its event.
    const latest = await send(portal, "m.room.message", { msgtype: "m.text", body: "did you read this?" });
    const q = await received(
      JOE,
      (x) => x.content.type === "text" && x.content.body === "did you read this?",
    );
    await joe().client.send([ALICE_PEOPLE], { type: "receipt", targets: [q.id as never] });
    await eventually("the ghost's read receipt in Alice's client", () =>
      user().client.getRoom(portal)?.getEventReadUpTo(JOE_GHOST) === latest ? true : undefined,
    );
  });

  it("typing both ways", async function () {
    await joe().client.send([ALICE_PEOPLE], { type: "typing", active: true, timeout_ms: 30_000 });
    await eventually("Joe's ghost typing in Alice's client", () =>
      user().client.getRoom(portal)?.getMember(JOE_GHOST)?.typing ? true : undefined,
    );

    await matrixApi(
      synapse(),
      user().accessToken,
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(portal)}/typing/${encodeURIComponent(user().userId)}`,
      { typing: true, timeout: 30_000 },
    );
    const t = await received(JOE, (x) => x.content.type === "typing" && x.content.active);
    assert.equal(t.from, ALICE_PEOPLE);
  });

  it("a People message delivered twice appears once in Matrix", async function () {
    // Redelivered through the whole stack: the first attempt fails after the Matrix send (as a
    // crash would), so the envelope is not acknowledged and the People server delivers it again.
    crashAfterSend = "say it once";
    const id = await joe().client.sendText([ALICE_PEOPLE], "say it once");
    await eventually("the redelivered message to be mapped", () =>
      running().handle.store.messages.byMessage(JOE, id),
    );
    assert.equal(crashes, 1);
    assert.equal(await countBodies(portal, "say it once"), 1);

    // And the handler called again with a message already bridged changes nothing.
    const account = await running().handle.accounts.accountFor(user().userId);
    const inbox = await running().handle.accounts.clientOf(user().userId)!.inbox();
    const entry = inbox.find((m) => m.id === hiMessage) ?? assert.fail("hi alice not in the inbox");
    await running().handle.portals.toMatrix.handle(account, {
      id: entry.id as never,
      from: entry.from as never,
      to: entry.to as never,
      ts: entry.ts,
      content: entry.content,
    });
    assert.equal(await countBodies(portal, "hi alice"), 1);
  });

  it("mail from a new address opens a portal: Ann's ghost invites Alice", async function () {
    const ann = `ann@${OTHER}`;
    await started().person(ann).client.sendText([ALICE_PEOPLE], "hi from ann");
    const annPortal = await eventually(
      "Ann's portal",
      async () => (await running().handle.store.portals.byPair(user().userId, ann))?.roomId,
    );
    await joinInvite(annPortal);
    await waitForTimelineEvent(
      user().client,
      annPortal,
      fromGhost("@_people_ann=40other.test:localhost", (c) => c.body === "hi from ann"),
    );
  });

  it("Alice inviting a ghost to a direct chat opens a portal; an unknown address declines", async function () {
    const bobGhost = "@_people_bob=40other.test:localhost";
    const { room_id: bobRoom } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [bobGhost],
      is_direct: true,
    });
    await waitForTimelineEvent(
      user().client,
      bobRoom,
      (e) =>
        e.getType() === "m.room.member" && e.getStateKey() === bobGhost && content(e).membership === "join",
    );
    await send(bobRoom, "m.room.message", { msgtype: "m.text", body: "hello bob" });
    const m = await received(
      `bob@${OTHER}`,
      (x) => x.content.type === "text" && x.content.body === "hello bob",
    );
    assert.equal(m.from, ALICE_PEOPLE);

    const nobody = "@_people_nobody=40other.test:localhost";
    const { room_id: nobodyRoom } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [nobody],
      is_direct: true,
    });
    const declined = await waitForTimelineEvent(
      user().client,
      nobodyRoom,
      (e) =>
        e.getType() === "m.room.member" && e.getStateKey() === nobody && content(e).membership === "leave",
    );
    assert.match(String(content(declined).reason), /has no People account/);
    assert.equal(await running().handle.store.portals.byRoom(nobodyRoom), undefined);
  });

  it("after a restart, Alice's People account receives again (mail sent while the bridge was down)", async function () {
    await running().stop();
    await joe().client.sendText([ALICE_PEOPLE], "while you were away");
    await startBridge();
    await waitForTimelineEvent(
      user().client,
      portal,
      fromGhost(JOE_GHOST, (c) => c.body === "while you were away"),
      60_000,
    );
    await send(portal, "m.room.message", { msgtype: "m.text", body: "back again" });
    await received(JOE, (x) => x.content.type === "text" && x.content.body === "back again");
  });
});
