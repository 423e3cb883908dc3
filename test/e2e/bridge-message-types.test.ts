// Message types against the real thing (issue 14): stickers both ways, a voice
// message's round trip with its MSC3245 flag, locations both ways, a poll with
// Joe's answer back as his ghost's vote and the results at its end, and a
// whitespace-only People text told in the room. A real Synapse, the bridge
// with its embedded People server (people.test), a second People server
// (other.test) with Joe as a PeopleClient, and Alice as an Element-like
// matrix-js-sdk user. The tests run in order and share the portal.
import assert from "node:assert/strict";
import type { MatrixEvent } from "matrix-js-sdk";
import type { PeopleClient } from "../../src/people/client/people-client.js";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import {
  eventually,
  waitForTimelineEvent,
  type MatrixUser,
  type TestBridge,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN } from "../helpers/bridge-world.js";
import type { Recorder } from "../helpers/client-fixtures.js";
import { pngBytes } from "../helpers/images.js";
import { roomRest } from "../helpers/room-rest.js";
import type { SynapseHandle } from "../helpers/synapse.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const JOE_GHOST = "@_people_joe=40other.test:localhost";
/** Generous: the machine may be busy; every wait ends as soon as its condition holds. */
const WAIT = 60_000;

type Json = Record<string, unknown>;

type Attachment = Extract<MessageContent, { type: "attachment" }>;

describe("Message types on a real Synapse: stickers, voice, locations, polls", function () {
  this.timeout(180_000);
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let joe: PeopleClient | undefined;
  let joeRec: Recorder;
  let portal: string;

  const running = (): TestBridge => world?.bridge ?? assert.fail("bridge not started");
  const synapse = (): SynapseHandle => world?.hs ?? assert.fail("synapse not started");
  const user = (): MatrixUser => alice ?? assert.fail("alice not logged in");
  const joeClient = (): PeopleClient => joe ?? assert.fail("joe not started");

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({ permissions: { "@alice:localhost": "user" } });
    ({ client: joe, rec: joeRec } = await world.startPeopleUser(JOE));
    alice = await world.startMatrixUser("alice");
    await running().handle.accounts.accountFor(alice.userId);
    // The portal, made by Joe's first message.
    await joeClient().sendText([ALICE_PEOPLE], "hello");
    portal = await world.joinDmPortal(user(), JOE);
    await ghostEvent((c) => c.body === "hello");
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  const content = (e: MatrixEvent): Json => e.getContent() as Json;
  const ghostEvent = (match: (c: Json, e: MatrixEvent) => boolean) =>
    waitForTimelineEvent(
      user().client,
      portal,
      (e) => e.getSender() === JOE_GHOST && match(content(e), e),
      WAIT,
    );
  const joeGets = (what: string, match: (m: ReceivedMessage) => boolean) =>
    eventually(`Joe to receive ${what}`, () => joeRec.messages.find(match), WAIT);

  async function aliceSends(type: string, body: Json): Promise<string> {
    const client = user().client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    return (await client.sendEvent(portal, type, body)).event_id;
  }

  const { upload, download } = roomRest(synapse, () => user().accessToken);

  it("a sticker goes to People as an attachment of kind sticker, and comes back as m.sticker", async function () {
    const bytes = pngBytes("alice sticker", 2000);
    const url = await upload(bytes, "image/png", "sticker.png");
    await aliceSends("m.sticker", {
      body: "happy cat",
      url,
      info: { mimetype: "image/png", w: 128, h: 128 },
    });
    const m = await joeGets(
      "the sticker",
      (x) => x.content.type === "attachment" && x.content.caption === "happy cat",
    );
    const sticker = m.content as Attachment;
    assert.equal(sticker.kind, "sticker");
    assert.deepEqual([sticker.blob.mime, sticker.blob.width, sticker.blob.height], ["image/png", 128, 128]);
    assert.deepEqual(await joeClient().downloadAttachment(sticker.blob), bytes);

    const back = pngBytes("joe sticker", 1500);
    const blob = await joeClient().uploadAttachment(back, { mime: "image/png", width: 96, height: 96 });
    await joeClient().send([ALICE_PEOPLE], {
      type: "attachment",
      blob,
      caption: "thumbs up",
      kind: "sticker",
    });
    const e = await ghostEvent((c, x) => x.getType() === "m.sticker" && c.body === "thumbs up");
    assert.equal(content(e).msgtype, undefined);
    assert.deepEqual(content(e).info, { mimetype: "image/png", size: back.length, w: 96, h: 96 });
    assert.deepEqual(await download(String(content(e).url)), back);
  });

  it("a voice message keeps its MSC3245 flag, duration and waveform Matrix → People → Matrix", async function () {
    const audio = Buffer.concat([Buffer.from("OggS"), Buffer.alloc(3000, 7)]);
    const url = await upload(audio, "audio/ogg", "Voice message.ogg");
    const waveform = [0, 120, 480, 1024, 300, 5];
    await aliceSends("m.room.message", {
      msgtype: "m.audio",
      body: "Voice message.ogg",
      url,
      info: { mimetype: "audio/ogg", size: audio.length, duration: 2600 },
      "org.matrix.msc1767.audio": { duration: 2600, waveform },
      "org.matrix.msc3245.voice": {},
    });
    const m = await joeGets(
      "the voice message",
      (x) => x.content.type === "attachment" && x.content.kind === "voice",
    );
    const voice = m.content as Attachment;
    assert.deepEqual(voice.waveform, waveform);
    assert.equal(voice.blob.duration_ms, 2600);
    const bytes = await joeClient().downloadAttachment(voice.blob);
    assert.deepEqual(bytes, audio);

    // Joe sends the same voice message back, as a People client that knows the kind would forward it.
    const blob = await joeClient().uploadAttachment(bytes, {
      mime: voice.blob.mime,
      name: "joe-voice.ogg",
      durationMs: voice.blob.duration_ms!,
    });
    await joeClient().send([ALICE_PEOPLE], {
      type: "attachment",
      blob,
      kind: "voice",
      waveform: voice.waveform!,
    });
    const e = await ghostEvent((c) => c.msgtype === "m.audio" && c.body === "joe-voice.ogg");
    assert.deepEqual(content(e)["org.matrix.msc3245.voice"], {});
    assert.deepEqual(content(e)["org.matrix.msc1767.audio"], { duration: 2600, waveform });
    assert.equal((content(e).info as Json).duration, 2600);
    assert.deepEqual(await download(String(content(e).url)), audio);
  });

  it("a location goes to People as a text with the geo URI and a map link, and comes back as m.location", async function () {
    await aliceSends("m.room.message", {
      msgtype: "m.location",
      body: "Location geo:51.5008,-0.1247;u=20 at 2026-12-04T12:00:00.000Z",
      geo_uri: "geo:51.5008,-0.1247;u=20",
      "org.matrix.msc3488.location": { uri: "geo:51.5008,-0.1247;u=20", description: "Big Ben" },
      "org.matrix.msc3488.asset": { type: "m.pin" },
    });
    const m = await joeGets(
      "the location",
      (x) => x.content.type === "text" && x.content.body.includes("geo:51.5008"),
    );
    assert.deepEqual(m.content, {
      type: "text",
      body:
        "📍 Big Ben\ngeo:51.5008,-0.1247;u=20\n" +
        "https://www.openstreetmap.org/?mlat=51.5008&mlon=-0.1247#map=16/51.5008/-0.1247",
    });

    await joeClient().sendText([ALICE_PEOPLE], "📍 Meet here\ngeo:48.8584,2.2945");
    const e = await ghostEvent((c) => c.msgtype === "m.location" && c.geo_uri === "geo:48.8584,2.2945");
    assert.deepEqual(content(e)["org.matrix.msc3488.location"], {
      uri: "geo:48.8584,2.2945",
      description: "Meet here",
    });
    assert.match(String(content(e).body), /openstreetmap\.org\/\?mlat=48\.8584&mlon=2\.2945/);
  });

  it("a poll goes to People as text; Joe's answer comes back as his ghost's vote; the end sends the results", async function () {
    const poll = await aliceSends("org.matrix.msc3381.poll.start", {
      "org.matrix.msc3381.poll.start": {
        kind: "org.matrix.msc3381.poll.disclosed",
        max_selections: 1,
        question: { "org.matrix.msc1767.text": "Lunch?" },
        answers: [
          { id: "pizza", "org.matrix.msc1767.text": "Pizza" },
          { id: "soup", "org.matrix.msc1767.text": "Soup" },
        ],
      },
      "org.matrix.msc1767.text": "Lunch?\n1. Pizza\n2. Soup",
    });
    const m = await joeGets(
      "the poll",
      (x) => x.content.type === "text" && x.content.body.startsWith("📊 Poll: Lunch?"),
    );
    assert.deepEqual(m.content, {
      type: "text",
      body: "📊 Poll: Lunch?\n1. Pizza\n2. Soup\nReply to this message with the number or the text of your answer.",
    });

    // Joe answers "2" in reply to the poll's text: his ghost votes for Soup.
    await joeClient().send([ALICE_PEOPLE], { type: "text", body: "2", reply_to: m.id });
    const vote = await ghostEvent((_c, e) => e.getType() === "org.matrix.msc3381.poll.response");
    assert.deepEqual(content(vote), {
      "org.matrix.msc3381.poll.response": { answers: ["soup"] },
      "m.relates_to": { rel_type: "m.reference", event_id: poll },
    });
    // A reply that names no option stays a reply.
    await joeClient().send([ALICE_PEOPLE], { type: "text", body: "or a sandwich?", reply_to: m.id });
    const reply = await ghostEvent((c) => c.body === "or a sandwich?");
    assert.equal(
      ((content(reply)["m.relates_to"] as Json)["m.in_reply_to"] as Json).event_id,
      poll,
      "a reply to the poll",
    );

    // Alice votes Pizza, then ends the poll: Joe gets the results, in reply to the poll's text.
    await aliceSends("org.matrix.msc3381.poll.response", {
      "org.matrix.msc3381.poll.response": { answers: ["pizza"] },
      "m.relates_to": { rel_type: "m.reference", event_id: poll },
    });
    await aliceSends("org.matrix.msc3381.poll.end", {
      "org.matrix.msc3381.poll.end": {},
      "org.matrix.msc1767.text": "Ended poll",
      "m.relates_to": { rel_type: "m.reference", event_id: poll },
    });
    const end = await joeGets(
      "the poll's results",
      (x) => x.content.type === "text" && x.content.body.startsWith("📊 Poll ended"),
    );
    assert.deepEqual(end.content, {
      type: "text",
      body: "📊 Poll ended: Lunch?\n1. Pizza: 1 vote\n2. Soup: 1 vote",
      reply_to: m.id,
    });
  });

  it("a whitespace-only People text is told in the room, as a Matrix one is told to its sender", async function () {
    await joeClient().sendText([ALICE_PEOPLE], "  \n ");
    const e = await ghostEvent((c) => c.msgtype === "m.notice" && String(c.body).includes("empty message"));
    assert.equal(
      content(e).body,
      "joe@other.test sent an empty message (only spaces): there is nothing to show.",
    );
  });
});
