// End-to-bridge encryption against the real thing: Synapse with the
// appservice's to-device and device-list extensions on, the bridge with
// encryption.allow and default, a second People server with Joe, and Alice
// as Element X is (matrix-js-sdk with Rust crypto, cross-signing set up).
// Every check of what Alice sees is the client's own view of the event:
// decrypted, and sent by a device its owner verified (no shield).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Preset, type MatrixEvent } from "matrix-js-sdk";
import type { BridgeConfigInput } from "../../src/bridge/config.js";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import { eventually, matrixApi, waitForTimelineEvent, type TestBridge } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, type PeopleUser } from "../helpers/bridge-world.js";
import { REQUIRE_NOTICE } from "../../src/bridge/adapters/crypto/end-to-bridge.js";
import { ElementXClient, NO_SHIELD, describeShield } from "../helpers/element-x-client.js";
import { loginCryptoDevice, shieldOf, startCryptoUser, type CryptoUser } from "../helpers/crypto-user.js";
import type { SynapseHandle } from "../helpers/synapse.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const JOE_GHOST = "@_people_joe=40other.test:localhost";
const BOT = "@peoplebot:localhost";
const MEGOLM = { algorithm: "m.megolm.v1.aes-sha2" };

type Json = Record<string, unknown>;

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64").replace(/=+$/, "");

/** An attachment encrypted as Element's matrix-encrypt-attachment does it, with WebCrypto. */
async function elementEncrypt(plain: Buffer) {
  const subtle = globalThis.crypto.subtle;
  const iv = new Uint8Array(16);
  globalThis.crypto.getRandomValues(iv.subarray(0, 8));
  const key = await subtle.generateKey({ name: "AES-CTR", length: 256 }, true, ["encrypt", "decrypt"]);
  const jwk = await subtle.exportKey("jwk", key);
  const ciphertext = Buffer.from(
    await subtle.encrypt({ name: "AES-CTR", counter: iv, length: 64 }, key, plain),
  );
  const hash = new Uint8Array(await subtle.digest("SHA-256", ciphertext));
  return {
    ciphertext,
    file: {
      key: { kty: "oct", key_ops: ["encrypt", "decrypt"], alg: "A256CTR", k: jwk.k, ext: true },
      iv: b64(iv),
      hashes: { sha256: b64(hash) },
      v: "v2",
    },
  };
}

/** Element's side of opening an encrypted attachment: check the hash, then AES-CTR. */
async function elementDecrypt(ciphertext: Buffer, file: Json): Promise<Buffer> {
  const subtle = globalThis.crypto.subtle;
  const hash = b64(new Uint8Array(await subtle.digest("SHA-256", ciphertext)));
  assert.equal(hash, String((file.hashes as Json).sha256).replace(/=+$/, ""));
  const key = await subtle.importKey(
    "jwk",
    file.key as Parameters<typeof globalThis.crypto.subtle.importKey>[1] as never,
    { name: "AES-CTR" },
    false,
    ["decrypt"],
  );
  const iv = Buffer.from(String(file.iv), "base64");
  return Buffer.from(await subtle.decrypt({ name: "AES-CTR", counter: iv, length: 64 }, key, ciphertext));
}

describe("end-to-bridge encryption on a real Synapse (Rust crypto client)", function () {
  this.timeout(180_000); // generous: Synapse on a busy 2-core machine; every wait ends when its condition holds
  let world: BridgeWorld | undefined;
  let input: BridgeConfigInput;
  let alice: CryptoUser | undefined;
  let joe: PeopleUser | undefined;
  let dm: string;
  let second: CryptoUser | undefined;
  let helloEvent: string;
  let helloMessage: string;
  let hiEvent: string;
  let hiMessage: string;

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const running = (): TestBridge => started().bridge;
  const synapse = (): SynapseHandle => started().hs;
  const user = (): CryptoUser => alice ?? assert.fail("alice not logged in");
  const people = () => joe ?? assert.fail("joe not started");
  const startBridge = () => started().startBridge(input);

  before(async function () {
    this.timeout(900_000);
    world = await BridgeWorld.start({
      permissions: { localhost: "user" },
      configure: (i) => ({ ...i, encryption: { allow: true, default: true } }),
    });
    input = world.input;
    joe = await world.startPeopleUser(JOE);
    alice = await startCryptoUser(world.hs, "alice");
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed" && world)
      for (const l of running().logs.lines.filter((l) => l.level >= 40))
        console.error(JSON.stringify(l).slice(0, 400));
  });

  after(async function () {
    this.timeout(60_000);
    alice?.client.stopClient();
    second?.client.stopClient();
    await world?.stop();
  });

  async function received(
    match: (m: ReceivedMessage) => boolean,
    timeoutMs = 60_000,
  ): Promise<ReceivedMessage> {
    return eventually(
      "Joe to receive a matching message",
      () => people().rec.messages.find(match),
      timeoutMs,
    );
  }

  /** Waits for an event that decrypts (in Alice's client) to content matching `pred`. */
  function decryptedFrom(roomId: string, sender: string, pred: (c: Json) => boolean, timeoutMs = 60_000) {
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

  /** Sends through matrix-js-sdk (encrypted by its Rust crypto, as Element does). */
  async function sendAs(roomId: string, type: string, content: Json): Promise<string> {
    const client = user().client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    return (await client.sendEvent(roomId, type, content)).event_id;
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

  it("honours the room's rotation_period_msgs: the bot starts a new session every 2 messages", async function () {
    const { room_id: roomId } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [BOT],
      is_direct: true,
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { ...MEGOLM, rotation_period_msgs: 2 } },
      ],
    });
    await decryptedFrom(roomId, BOT, (c) => String(c.body).includes("People bridge bot"));
    for (let i = 0; i < 3; i++) {
      const id = await sendAs(roomId, "m.room.message", { msgtype: "m.text", body: "help" });
      await decryptedFrom(roomId, BOT, (c) => {
        const rel = c["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } } | undefined;
        return rel?.["m.in_reply_to"]?.event_id === id;
      });
    }
    const sessions = user()
      .client.getRoom(roomId)!
      .getLiveTimeline()
      .getEvents()
      .filter((e) => e.getSender() === BOT && e.getWireType() === "m.room.encrypted")
      .map((e) => String(e.getWireContent().session_id));
    assert.equal(sessions.length, 4);
    assert.equal(sessions[0], sessions[1]);
    assert.equal(sessions[2], sessions[3]);
    assert.notEqual(sessions[1], sessions[2]);
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
      60_000,
    );
    const sent = await user().client.sendTextMessage(roomId, "hello joe, secretly");
    const m = await received((x) => x.content.type === "text" && x.content.body === "hello joe, secretly");
    assert.equal(m.from, ALICE_PEOPLE);
    helloEvent = sent.event_id;
    helloMessage = m.id;
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
    hiMessage = await people().client.sendText([ALICE_PEOPLE], "hi alice, secretly");
    const e = await decryptedFrom(dm, JOE_GHOST, (c) => c.body === "hi alice, secretly");
    await assertTrusted(e);
    assert.equal(e.getWireType(), "m.room.encrypted");
    hiEvent = e.getId()!;
  });

  it("replies both ways", async function () {
    await sendAs(dm, "m.room.message", {
      msgtype: "m.text",
      body: "answering you",
      "m.relates_to": { "m.in_reply_to": { event_id: hiEvent } },
    });
    const m = await received((x) => x.content.type === "text" && x.content.body === "answering you");
    assert.equal((m.content as { reply_to?: string }).reply_to, hiMessage);

    await people().client.send([ALICE_PEOPLE], {
      type: "text",
      body: "answering back",
      reply_to: helloMessage,
    });
    const e = await decryptedFrom(dm, JOE_GHOST, (c) => c.body === "answering back");
    await assertTrusted(e);
    const rel = e.getContent()["m.relates_to"] as { "m.in_reply_to"?: { event_id?: string } };
    assert.equal(rel["m.in_reply_to"]?.event_id, helloEvent);
  });

  it("edits both ways", async function () {
    await sendAs(dm, "m.room.message", {
      msgtype: "m.text",
      body: "* hello joe!",
      "m.new_content": { msgtype: "m.text", body: "hello joe!" },
      "m.relates_to": { rel_type: "m.replace", event_id: helloEvent },
    });
    const m = await received((x) => x.content.type === "edit");
    assert.deepEqual(m.content, { type: "edit", target: helloMessage, body: "hello joe!" });

    await people().client.send([ALICE_PEOPLE], { type: "edit", target: hiMessage, body: "hi alice!" });
    const e = await decryptedFrom(
      dm,
      JOE_GHOST,
      (c) => (c["m.relates_to"] as Json | undefined)?.rel_type === "m.replace",
    );
    await assertTrusted(e);
    assert.deepEqual(e.getContent()["m.relates_to"], { rel_type: "m.replace", event_id: hiEvent });
    assert.equal((e.getContent()["m.new_content"] as Json).body, "hi alice!");
    // The relation stays in the clear so the server can aggregate the edit.
    assert.deepEqual(e.getWireContent()["m.relates_to"], { rel_type: "m.replace", event_id: hiEvent });
  });

  it("reactions both ways", async function () {
    await sendAs(dm, "m.reaction", {
      "m.relates_to": { rel_type: "m.annotation", event_id: hiEvent, key: "👍" },
    });
    const m = await received((x) => x.content.type === "reaction");
    assert.deepEqual(m.content, { type: "reaction", target: hiMessage, key: "👍" });

    await people().client.send([ALICE_PEOPLE], { type: "reaction", target: helloMessage, key: "🎉" });
    const e = await eventually("Joe's reaction, decrypted", () =>
      user()
        .client.getRoom(dm)
        ?.getLiveTimeline()
        .getEvents()
        .find((x) => x.getType() === "m.reaction" && x.getSender() === JOE_GHOST && !x.isBeingDecrypted()),
    );
    await assertTrusted(e);
    assert.deepEqual(e.getContent()["m.relates_to"], {
      rel_type: "m.annotation",
      event_id: helloEvent,
      key: "🎉",
    });
  });

  const imageBytes = (seed: string): Buffer =>
    Buffer.concat([
      Buffer.from("89504e470d0a1a0a", "hex"),
      createHash("sha256").update(seed).digest(),
      Buffer.alloc(3000, seed),
    ]);

  it("Alice's encrypted image reaches Joe as the same bytes", async function () {
    const bytes = imageBytes("alice");
    // Encrypted the way Element does it (WebCrypto AES-CTR, SHA-256 of the ciphertext).
    const { ciphertext, file } = await elementEncrypt(bytes);
    const res = await fetch(`${synapse().url}/_matrix/media/v3/upload`, {
      method: "POST",
      headers: { authorization: `Bearer ${user().accessToken}`, "content-type": "application/octet-stream" },
      body: ciphertext,
    });
    assert.ok(res.ok, `upload: ${res.status}`);
    const { content_uri: mxc } = (await res.json()) as { content_uri: string };
    await sendAs(dm, "m.room.message", {
      msgtype: "m.image",
      body: "cat.png",
      file: { ...file, url: mxc },
      info: { mimetype: "image/png", size: bytes.length, w: 4, h: 3 },
    });
    const m = await received((x) => x.content.type === "attachment");
    const attachment = m.content as Extract<MessageContent, { type: "attachment" }>;
    assert.equal(attachment.blob.mime, "image/png");
    assert.equal(attachment.blob.name, "cat.png");
    assert.deepEqual(await people().client.downloadAttachment(attachment.blob), bytes);
  });

  it("Joe's image arrives encrypted: the homeserver holds ciphertext, Alice's key opens it", async function () {
    const bytes = imageBytes("joe");
    await people().client.sendAttachment([ALICE_PEOPLE], bytes, { mime: "image/png", name: "joe.png" });
    const e = await decryptedFrom(dm, JOE_GHOST, (c) => c.msgtype === "m.image");
    await assertTrusted(e);
    const c = e.getContent() as Json;
    assert.equal(c.url, undefined);
    const file = c.file as Json & { url: string };
    const match = /^mxc:\/\/([^/]+)\/(.+)$/.exec(file.url) ?? assert.fail(`not an mxc URI: ${file.url}`);
    const res = await fetch(`${synapse().url}/_matrix/client/v1/media/download/${match[1]}/${match[2]}`, {
      headers: { authorization: `Bearer ${user().accessToken}` },
    });
    assert.ok(res.ok, `download: ${res.status}`);
    const stored = Buffer.from(await res.arrayBuffer());
    assert.ok(!stored.includes(bytes.subarray(0, 40)), "the homeserver has ciphertext only");
    assert.deepEqual(await elementDecrypt(stored, file), bytes);
  });

  it("a message whose key comes late is announced in the room, then bridged when the key arrives", async function () {
    // A new Megolm session whose key Alice's client believes sent, but which the network holds back.
    await user().crypto.forceDiscardSession(dm);
    user().toDevice.hold = true;
    const late = await sendAs(dm, "m.room.message", { msgtype: "m.text", body: "late key, secretly" });
    assert.ok(user().toDevice.count > 0, "the room key was held back");
    const notice = await decryptedFrom(
      dm,
      JOE_GHOST,
      (c) =>
        c.msgtype === "m.notice" &&
        ((c["m.relates_to"] as Json | undefined)?.["m.in_reply_to"] as Json | undefined)?.event_id === late,
    );
    await assertTrusted(notice);
    assert.match(String(notice.getContent().body), /could not decrypt/);
    assert.equal((await running().handle.store.crypto.allPending()).length, 1);
    assert.ok(
      !people().rec.messages.some(
        (m) => m.content.type === "text" && m.content.body === "late key, secretly",
      ),
    );

    await user().toDevice.release();
    await received((x) => x.content.type === "text" && x.content.body === "late key, secretly");
    await eventually("the pending row to go", async () =>
      (await running().handle.store.crypto.allPending()).length === 0 ? true : undefined,
    );
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

  it('a second user on Element X with "exclude insecure devices", with the same ghost: encrypted text, reaction and image both ways, no shield', async function () {
    const me = await ElementXClient.register(synapse(), "bob", { excludeInsecureDevices: true });
    const BOB_PEOPLE = `bob@${PEOPLE_DOMAIN}`;
    const room = await me.createEncryptedDm(JOE_GHOST);
    // Synapse pushes a room's events to the appservice once one of its users is joined: as a user
    // would, Bob writes once he sees the ghost there (a message sent before is never bridged).
    await eventually("the ghost to join Bob's room", () =>
      me.client.getRoom(room)?.getMember(JOE_GHOST)?.membership === "join" ? true : undefined,
    );
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
  it("a second device of Alice, logged in later, reads what the ghost sends next", async function () {
    second = await loginCryptoDevice(synapse(), user());
    const device = second;
    // The ghost shares keys with the devices it knows: it learns of this one from a device-list
    // change in a transaction (as Element's own senders learn from /sync).
    const manager = running().handle.e2b!.manager;
    await eventually("the ghost's machine to know the new device", async () =>
      (await manager.with(JOE_GHOST, (ghost) => ghost.knowsDevice(user().userId, device.deviceId)))
        ? true
        : undefined,
    );
    await people().client.sendText([ALICE_PEOPLE], "for both devices");
    const e = await eventually(
      "the message on the second device, decrypted",
      () =>
        device.client
          .getRoom(dm)
          ?.getLiveTimeline()
          .getEvents()
          .find(
            (x) =>
              x.getSender() === JOE_GHOST &&
              !x.isBeingDecrypted() &&
              !x.isDecryptionFailure() &&
              x.getContent().body === "for both devices",
          ),
      60_000,
    );
    const s = await shieldOf(device, e);
    assert.ok(s.encrypted && s.none, `shield on the second device: ${String(s.colour)} ${String(s.reason)}`);
    // And the first device still reads it.
    await decryptedFrom(dm, JOE_GHOST, (c) => c.body === "for both devices");
  });

  it("encryption.require: an unencrypted message is refused with a notice and not bridged", async function () {
    await running().stop();
    input = { ...input, encryption: { allow: true, default: true, require: true } };
    await startBridge();
    const { room_id: roomId } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [BOT],
      is_direct: true,
    });
    await eventually("the bot's welcome", () =>
      user()
        .client.getRoom(roomId)
        ?.getLiveTimeline()
        .getEvents()
        .find((e) => e.getSender() === BOT && e.getType() === "m.room.message"),
    );
    const help = await sendAs(roomId, "m.room.message", { msgtype: "m.text", body: "help" });
    const notice = await eventually("the refusal", () =>
      user()
        .client.getRoom(roomId)
        ?.getLiveTimeline()
        .getEvents()
        .find(
          (e) =>
            e.getSender() === BOT &&
            ((e.getContent()["m.relates_to"] as Json | undefined)?.["m.in_reply_to"] as Json | undefined)
              ?.event_id === help,
        ),
    );
    assert.equal(notice.getContent().body, REQUIRE_NOTICE);
    const botReplies = user()
      .client.getRoom(roomId)!
      .getLiveTimeline()
      .getEvents()
      .filter((e) => e.getSender() === BOT && e.getType() === "m.room.message");
    assert.equal(botReplies.length, 2, "the welcome and the refusal, no answer to help");
  });
});
