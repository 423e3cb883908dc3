// Nothing stalls behind one bad message, Matrix → People (issue 16), against
// the real thing: Synapse, the bridge as its real command in a child process
// (to be SIGKILLed), its People server, Joe on a second People server. Alice's
// image points at media on a "remote homeserver" (FakeRemoteMedia: HTTPS on
// loopback, fetched by Synapse over federation) that answers 502 or 404 as the
// test says. Synapse sends the bridge one queue of transactions for all users,
// so while the bad image is unresolved Alice and Bob keep writing, and every
// honest message must reach Joe meanwhile. A permanent failure ends in one
// notice; a transient one arrives once after the failure clears, also across
// a SIGKILL of the bridge while the event waits in the retry queue.
import assert from "node:assert/strict";
import { Preset } from "matrix-js-sdk";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import { eventually, matrixApi, roomMessages, type MatrixUser } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, ghostOf, type PeopleUser } from "../helpers/bridge-world.js";
import { FakeRemoteMedia, REMOTE_MEDIA_SYNAPSE_CONFIG } from "../helpers/fake-remote-media.js";

const JOE = `joe@${OTHER}`;
const JOE_GHOST = ghostOf(JOE);
const PNG = Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), Buffer.alloc(2000, 7)]);

/** Generous for a loaded machine; a message stuck behind the bad one waits far longer. */
const HONEST_TIMEOUT_MS = 60_000;

type Json = Record<string, unknown>;
type Attachment = Extract<MessageContent, { type: "attachment" }>;

describe("Matrix → People: one bad message stalls nobody (real Synapse, the bridge as a child process)", function () {
  this.timeout(180_000);
  let world: BridgeWorld | undefined;
  let remote: FakeRemoteMedia | undefined;
  let joe: PeopleUser | undefined;
  const users: Record<string, MatrixUser> = {};
  const portals: Record<string, string> = {};
  /** When Joe's client got each text body. */
  const arrivals = new Map<string, number>();
  /** Latency of honest messages (send → Joe), by phase. */
  const latencies: Record<string, number[]> = {};

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const media = (): FakeRemoteMedia => remote ?? assert.fail("no remote media server");
  const joeRec = () => (joe ?? assert.fail("joe not started")).rec;

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    remote = await FakeRemoteMedia.start();
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user", "@bob:localhost": "user" },
      childProcess: true,
      synapseConfig: REMOTE_MEDIA_SYNAPSE_CONFIG,
    });
    joe = await world.startPeopleUser(JOE);
    joe.client.onMessage((m) => {
      if (m.content.type === "text") arrivals.set(m.content.body, Date.now());
    });
    for (const name of ["alice", "bob"]) {
      const user = (users[name] = await world.startMatrixUser(name));
      const { room_id: roomId } = await user.client.createRoom({
        preset: Preset.TrustedPrivateChat,
        invite: [JOE_GHOST],
        is_direct: true,
      });
      portals[name] = roomId;
      await eventually(`Joe's ghost to join ${name}'s portal`, async () => {
        const path = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/joined_members`;
        const members = await matrixApi(world!.hs, user.accessToken, "GET", path);
        return JOE_GHOST in (members.joined as Json) ? true : undefined;
      });
    }
    // Both directions of the queue work before anything is broken; the normal latency.
    for (let i = 0; i < 3; i++) {
      await honest("alice", `warm-up-alice-${i}`, "normal");
      await honest("bob", `warm-up-bob-${i}`, "normal");
    }
  });

  after(async function () {
    this.timeout(60_000);
    for (const [phase, list] of Object.entries(latencies)) {
      const sorted = [...list].sort((a, b) => a - b);
      console.log(
        `M2P-STALL latency of honest messages [${phase}]: n=${sorted.length} ` +
          `median=${sorted[Math.floor(sorted.length / 2)]} ms max=${sorted[sorted.length - 1]} ms ` +
          `all=[${list.join(", ")}]`,
      );
    }
    await world?.stop();
    await remote?.stop();
  });

  async function send(name: string, type: string, content: Json): Promise<string> {
    const client = users[name]!.client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    return (await client.sendEvent(portals[name]!, type, content)).event_id;
  }

  /** Sends a text as `name` and waits until Joe has it; records the latency under `phase`. */
  async function honest(name: string, body: string, phase: string): Promise<void> {
    const sent = Date.now();
    await send(name, "m.room.message", { msgtype: "m.text", body });
    const at = await eventually(`Joe to receive "${body}"`, () => arrivals.get(body), HONEST_TIMEOUT_MS);
    (latencies[`${phase}, ${name}`] ??= []).push(at - sent);
  }

  function image(name: string, mediaId: string): Promise<string> {
    return send(name, "m.room.message", {
      msgtype: "m.image",
      body: `${mediaId}.png`,
      url: media().mxc(mediaId),
      info: { mimetype: "image/png", size: PNG.length },
    });
  }

  const attachmentsNamed = (name: string): ReceivedMessage[] =>
    joeRec().messages.filter((m) => m.content.type === "attachment" && m.content.blob.name === name);

  /** The ghost's notices in reply to `eventId`, as the homeserver holds them. */
  async function noticesFor(name: string, eventId: string): Promise<string[]> {
    const events = await roomMessages(started().hs, users[name]!.accessToken, portals[name]!, 100);
    return events
      .filter((e) => e.sender === JOE_GHOST && (e.content as Json | undefined)?.msgtype === "m.notice")
      .filter((e) => {
        const rel = (e.content as Json)["m.relates_to"] as Json | undefined;
        return (rel?.["m.in_reply_to"] as Json | undefined)?.event_id === eventId;
      })
      .map((e) => String((e.content as Json).body));
  }

  it("a permanent failure (the media is gone: 404) is answered with one notice, and the conversation moves on", async function () {
    media().set("gone", { status: 404 });
    const bad = await image("alice", "gone");
    await honest("alice", "after-gone-alice", "behind a permanent failure");
    await honest("bob", "after-gone-bob", "behind a permanent failure");
    const notices = await eventually("the notice about the gone file", async () => {
      const list = await noticesFor("alice", bad);
      return list.length > 0 ? list : undefined;
    });
    assert.equal(notices.length, 1);
    assert.match(notices[0]!, /^Not delivered to joe@other\.test: The file could not be fetched: /);
    assert.doesNotMatch(notices[0]!, /HTTP|502|404|mxc|Error/);
    assert.ok(media().requests("gone") >= 1, "Synapse asked the remote server");
    assert.equal(attachmentsNamed("gone.png").length, 0);
  });

  it("a transient failure (the media's server answers 502) holds up nobody, and the image arrives once when it clears", async function () {
    media().set("flaky", { status: 502 });
    const bad = await image("alice", "flaky");
    // Alice reacts to her own image: that must wait behind it, not reach People first.
    await send("alice", "m.reaction", {
      "m.relates_to": { rel_type: "m.annotation", event_id: bad, key: "👍" },
    });
    // Alice and Bob write at once, then in turns.
    await Promise.all(
      ["alice", "bob"].map((name) => honest(name, `behind-flaky-${name}-0`, "behind a transient failure")),
    );
    assert.equal(attachmentsNamed("flaky.png").length, 0);
    for (let i = 1; i < 3; i++) {
      for (const name of ["alice", "bob"]) {
        await honest(name, `behind-flaky-${name}-${i}`, "behind a transient failure");
        // Each honest message arrived while the bad one was still unresolved.
        assert.equal(attachmentsNamed("flaky.png").length, 0);
      }
    }
    assert.ok(media().requests("flaky") >= 1, "Synapse asked the remote server");
    assert.equal(joeRec().messages.filter((m) => m.content.type === "reaction").length, 0);
    assert.deepEqual(await noticesFor("alice", bad), []);

    media().set("flaky", { bytes: PNG, mime: "image/png" });
    const m = await eventually(
      "the image to reach Joe once its server answers",
      () => attachmentsNamed("flaky.png")[0],
      90_000,
    );
    assert.deepEqual(await joe!.client.downloadAttachment((m.content as Attachment).blob), PNG);
    const reaction = await eventually("the reaction, after the image", () =>
      joeRec().messages.find((x) => x.content.type === "reaction"),
    );
    assert.equal((reaction.content as { target: string }).target, m.id);
    assert.ok(joeRec().messages.indexOf(reaction) > joeRec().messages.indexOf(m));
    // Once: a later message has arrived, and the image is still there only once.
    await honest("alice", "after-flaky-alice", "normal");
    assert.equal(attachmentsNamed("flaky.png").length, 1);
    assert.deepEqual(await noticesFor("alice", bad), []);
  });

  it("an event waiting in the retry queue survives a SIGKILL of the bridge and arrives exactly once", async function () {
    media().set("crashy", { status: 502 });
    const bad = await image("alice", "crashy");
    const child = started().child;
    await eventually("the bridge to keep the event for another try", () =>
      child.logs.find((l) => l.eventId === bad && /tried again alone/.test(l.msg)),
    );
    // The transaction was acknowledged: what Bob writes after it flows.
    await honest("bob", "before-kill-bob", "behind a transient failure");
    await child.kill("SIGKILL");
    media().set("crashy", { bytes: PNG, mime: "image/png" });
    await child.start();
    const m = await eventually(
      "the kept image to arrive after the restart",
      () => attachmentsNamed("crashy.png")[0],
      90_000,
    );
    assert.deepEqual(await joe!.client.downloadAttachment((m.content as Attachment).blob), PNG);
    await honest("alice", "after-restart-alice", "normal");
    assert.equal(attachmentsNamed("crashy.png").length, 1);
    assert.deepEqual(await noticesFor("alice", bad), []);
  });
});
