// Proves the Element X-like test client (test/helpers/element-x-client.ts) on
// the harness's real Synapse, without the bridge: two users with Rust crypto,
// cross-signing and recovery exchange every kind of message the bridge will
// carry in an encrypted DM, each side's view is decrypted with no shield; a
// later second device reads new messages; and the helper does see the red
// shield of a device its owner never signed, so that "no shield" assertions in
// the bridge tests can fail. The tests run in order and share the clients.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { EventType, type MatrixEvent } from "matrix-js-sdk";
import { eventually, roomMessages } from "../helpers/bridge-harness.js";
import {
  DecryptionFailureCode,
  ElementXClient,
  EventShieldColour,
  EventShieldReason,
  NO_SHIELD,
  describeShield,
  type Shield,
} from "../helpers/element-x-client.js";
import { ensureSynapseInstalled, startSynapse, type SynapseHandle } from "../helpers/synapse.js";

type Json = Record<string, unknown>;

const RED_UNSIGNED: Shield = { colour: EventShieldColour.RED, reason: EventShieldReason.UNSIGNED_DEVICE };

describe("Element X-like client with Rust crypto on a real Synapse", function () {
  this.timeout(120_000);
  let hs: SynapseHandle | undefined;
  const clients: ElementXClient[] = [];
  let alice: ElementXClient;
  let bob: ElementXClient;
  let dm: string;
  /** A message of Alice's first device sent before her second device existed. */
  let beforeSecondDevice: string;

  const started = (c: ElementXClient): ElementXClient => {
    clients.push(c);
    return c;
  };

  async function assertShield(reader: ElementXClient, event: MatrixEvent, expected: Shield): Promise<void> {
    const shield = await reader.shieldOf(event);
    assert.deepEqual(
      shield,
      expected,
      `${reader.userId}/${reader.deviceId} sees ${event.getId()} from ${event.getSender()} with ` +
        `${describeShield(shield)}, expected ${describeShield(expected)}`,
    );
  }

  /** `reader` sees `eventId` decrypted, from `sender`, with no shield; returns it. */
  async function seenClean(
    reader: ElementXClient,
    eventId: string,
    sender: ElementXClient,
  ): Promise<MatrixEvent> {
    const event = await reader.waitForEventId(dm, eventId);
    assert.equal(event.getWireType(), "m.room.encrypted");
    assert.equal(event.getSender(), sender.userId);
    await assertShield(reader, event, NO_SHIELD);
    return event;
  }

  before(async function () {
    this.timeout(900_000);
    await ensureSynapseInstalled();
    hs = await startSynapse();
    const t0 = Date.now();
    alice = started(await ElementXClient.register(hs, "alice"));
    const t1 = Date.now();
    bob = started(await ElementXClient.register(hs, "bob"));
    const t2 = Date.now();
    process.stderr.write(
      `[element-x] first client (wasm load + crypto + cross-signing + recovery): ${t1 - t0} ms, second: ${t2 - t1} ms\n`,
    );
  });

  after(async function () {
    this.timeout(60_000);
    for (const c of clients) c.stop();
    await hs?.stop();
  });

  it("sets up each first login as Element X does: device signed by its owner, recovery in secret storage", async function () {
    for (const c of [alice, bob]) {
      assert.ok(await c.isSignedByOwner(c.deviceId), `${c.userId}'s own device is not cross-signed`);
      assert.ok(await c.crypto.isCrossSigningReady());
      assert.ok(await c.crypto.isSecretStorageReady());
      assert.match(c.recoveryKey ?? "", /^(?:[1-9A-HJ-NP-Za-km-z]{4} ){11}[1-9A-HJ-NP-Za-km-z]{4}$/);
      assert.ok(await c.crypto.getActiveSessionBackupVersion(), `${c.userId} has no key backup`);
    }
  });

  it("creates an encrypted DM as Element X does, and the invitee joins", async function () {
    dm = await alice.createEncryptedDm(bob.userId);
    await bob.acceptInvite(dm);
    const room = bob.client.getRoom(dm) ?? assert.fail("no room");
    const encryption = room.currentState.getStateEvents("m.room.encryption", "");
    assert.equal(encryption?.getContent().algorithm, "m.megolm.v1.aes-sha2");
    const invite = room.currentState.getStateEvents("m.room.member", bob.userId);
    assert.equal(invite?.getPrevContent().is_direct, true);
    const direct = alice.client.getAccountData(EventType.Direct)?.getContent() as Record<string, string[]>;
    assert.deepEqual(direct[bob.userId], [dm]);
    // Each side has downloaded the other's keys and sees its device cross-signed.
    assert.deepEqual(await alice.waitForAllDevicesSignedByOwner(bob.userId), [bob.deviceId]);
    await bob.waitForDeviceSignedByOwner(alice.userId, alice.deviceId);
  });

  it("exchanges text, a reply, an edit and a reaction both ways, each decrypted with no shield", async function () {
    for (const [from, to] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      const tag = `${from.userId}→${to.userId}`;
      const textId = await from.sendText(dm, `hello ${tag}`);
      const text = await seenClean(to, textId, from);
      assert.deepEqual(text.getContent(), { msgtype: "m.text", body: `hello ${tag}` });

      const replyId = await from.sendReply(dm, textId, `reply ${tag}`);
      const reply = await seenClean(to, replyId, from);
      assert.equal(reply.getContent().body, `reply ${tag}`);
      assert.equal(reply.replyEventId, textId);

      const editId = await from.sendEdit(dm, textId, `edited ${tag}`);
      const edit = await seenClean(to, editId, from);
      assert.deepEqual(edit.getContent()["m.new_content"], { msgtype: "m.text", body: `edited ${tag}` });
      assert.deepEqual(edit.getRelation(), { rel_type: "m.replace", event_id: textId });
      // The SDK applies the edit to the original as a client shows it.
      assert.equal(text.getContent().body, `edited ${tag}`);

      const reactionId = await from.sendReaction(dm, replyId, "👍");
      const reaction = await seenClean(to, reactionId, from);
      assert.equal(reaction.getType(), "m.reaction");
      assert.deepEqual(reaction.getRelation(), { rel_type: "m.annotation", event_id: replyId, key: "👍" });
    }
  });

  it("exchanges encrypted images both ways: the server holds only ciphertext, the reader decrypts the bytes", async function () {
    for (const [from, to] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      const data = randomBytes(4096);
      const id = await from.sendImage(dm, {
        data,
        mimetype: "image/png",
        name: "pic.png",
        width: 32,
        height: 32,
      });
      const event = await seenClean(to, id, from);
      const content = event.getContent();
      assert.equal(content.msgtype, "m.image");
      assert.deepEqual(content.info, { mimetype: "image/png", size: 4096, w: 32, h: 32 });
      assert.equal(content.url, undefined);
      assert.deepEqual(Buffer.from(await to.downloadAttachment(event)), data);

      // What the media repo serves is not the image.
      const file = (content as { file: { url: string } }).file;
      const raw = await fetch(
        `${hsUrl()}/_matrix/client/v1/media/download/${file.url.slice("mxc://".length)}`,
        {
          headers: { authorization: `Bearer ${to.accessToken}` },
        },
      );
      const stored = Buffer.from(await raw.arrayBuffer());
      assert.equal(stored.length, data.length);
      assert.notDeepEqual(stored, data);
      // A tampered `file` (wrong hash) is refused, not decrypted.
      const tampered = event.getContent();
      const forged = { ...tampered, file: { ...(tampered.file as Json), hashes: { sha256: "AAAA" } } };
      await assert.rejects(
        to.downloadAttachment({ getContent: () => forged } as unknown as MatrixEvent),
        /sha256/,
      );
    }
  });

  it("keeps message contents off the server: every message event in the DM is m.room.encrypted", async function () {
    const events = await roomMessages(synapse(), bob.accessToken, dm, 100);
    const sent = events.filter((e) => e.sender === alice.userId || e.sender === bob.userId);
    const nonState = sent.filter((e) => e.state_key === undefined);
    // text, reply, edit, reaction and image, each way
    assert.equal(nonState.length, 10, `${nonState.length} message events`);
    for (const e of nonState) {
      assert.equal(e.type, "m.room.encrypted", JSON.stringify(e));
      assert.equal((e.content as Json).algorithm, "m.megolm.v1.aes-sha2");
      assert.equal((e.content as Json).body, undefined);
    }
  });

  it("takes a reaction sent in the clear as Element Web does, and reports it as not encrypted", async function () {
    const target = await alice.sendText(dm, "react to me the Element Web way");
    beforeSecondDevice = target;
    await seenClean(bob, target, alice);
    const id = await alice.sendReaction(dm, target, "🎉", { encrypted: false });
    const reaction = await bob.waitForEventId(dm, id);
    assert.equal(reaction.getWireType(), "m.reaction");
    assert.equal(reaction.isEncrypted(), false);
    await assert.rejects(bob.shieldOf(reaction), /was not encrypted/);
  });

  it("a second device of Alice, verified with the recovery key, reads new messages and is trusted", async function () {
    const alice2 = started(await alice.loginAnotherDevice({ verify: true }));
    assert.notEqual(alice2.deviceId, alice.deviceId);
    assert.ok(await alice2.isSignedByOwner(alice2.deviceId));
    // Bob must know the new device (to share keys with it) and see it signed.
    await bob.waitForDeviceSignedByOwner(alice.userId, alice2.deviceId);
    await alice.waitForDeviceSignedByOwner(alice.userId, alice2.deviceId);

    const fromBob = await bob.sendText(dm, "for both of Alice's devices");
    const seen = await seenClean(alice2, fromBob, bob);
    assert.equal(seen.getContent().body, "for both of Alice's devices");
    await seenClean(alice, fromBob, bob);

    const fromAlice2 = await alice2.sendText(dm, "from Alice's second device");
    await seenClean(bob, fromAlice2, alice);
    // Alice's first device sees her own other device as verified too.
    await seenClean(alice, fromAlice2, alice);
  });

  it("the second device restores earlier history from the key backup (shown with a grey shield)", async function () {
    const alice2 = clients.find((c) => c.userId === alice.userId && c !== alice) ?? assert.fail("no alice2");
    // Alice's first device uploads its room keys to the backup in the background: retry until there.
    const old = await eventually("the earlier message to decrypt from the backup", async () => {
      const event = alice2.client.getRoom(dm)?.findEventById(beforeSecondDevice);
      if (event?.getClearContent() && !event.isDecryptionFailure()) return event;
      await alice2.restoreFromKeyBackup();
      return undefined;
    });
    assert.equal(old.getContent().body, "react to me the Element Web way");
    await assertShield(alice2, old, {
      colour: EventShieldColour.GREY,
      reason: EventShieldReason.AUTHENTICITY_NOT_GUARANTEED,
    });
  });

  it("detects the failure case: events from a device its owner did not sign show a red shield", async function () {
    // A device of Alice that never verified: same user, cross-signing exists, device unsigned.
    const unverified = started(await alice.loginAnotherDevice({ verify: false }));
    assert.equal(await unverified.isSignedByOwner(unverified.deviceId), false);
    await bob.waitForDevice(alice.userId, unverified.deviceId);
    const fromUnverified = await unverified.sendText(dm, "from an unverified device");
    const event = await bob.waitForEventId(dm, fromUnverified);
    assert.equal(event.getContent().body, "from an unverified device");
    await assertShield(bob, event, RED_UNSIGNED);
    await assertShield(alice, await alice.waitForEventId(dm, fromUnverified), RED_UNSIGNED);
    // What it reads itself: room keys still reach it (others share with unsigned devices
    // unless they exclude insecure devices), and a cross-signed sender shows no shield.
    const fromBob = await bob.sendText(dm, "to every device of Alice, verified or not");
    await seenClean(unverified, fromBob, bob);

    // A user that never set up cross-signing at all (a bridge ghost without it would be this).
    const carol = started(await ElementXClient.register(synapse(), "carol", { crossSigning: false }));
    assert.equal(await carol.crypto.isCrossSigningReady(), false);
    const carolDm = await carol.createEncryptedDm(bob.userId);
    await bob.acceptInvite(carolDm);
    await bob.waitForDevice(carol.userId, carol.deviceId);
    const fromCarol = await carol.sendText(carolDm, "from a user without cross-signing");
    const carolEvent = await bob.waitForEventId(carolDm, fromCarol);
    await assertShield(bob, carolEvent, RED_UNSIGNED);
  });

  it("with 'exclude insecure devices', an event from an unsigned device does not decrypt at all", async function () {
    const carol = clients.find((c) => c.userId.startsWith("@carol:")) ?? assert.fail("no carol");
    const erin = started(await ElementXClient.register(synapse(), "erin", { excludeInsecureDevices: true }));
    const room = await carol.createEncryptedDm(erin.userId);
    await erin.acceptInvite(room);
    await carol.waitForDevice(erin.userId, erin.deviceId);
    const fromCarol = await carol.sendText(room, "to a strict client");
    assert.equal(
      await erin.waitForDecryptionFailure(room, fromCarol),
      DecryptionFailureCode.UNSIGNED_SENDER_DEVICE,
    );

    // While a cross-signed sender gets through to the same strict client.
    const strictDm = await alice.createEncryptedDm(erin.userId);
    await erin.acceptInvite(strictDm);
    await erin.waitForDeviceSignedByOwner(alice.userId, alice.deviceId);
    const fromAlice = await alice.sendText(strictDm, "to a strict client, from a verified device");
    const event = await erin.waitForEventId(strictDm, fromAlice);
    assert.deepEqual(await erin.shieldOf(event), NO_SHIELD);
  });

  function synapse(): SynapseHandle {
    return hs ?? assert.fail("synapse not started");
  }
  function hsUrl(): string {
    return synapse().url;
  }
});
