// The ghost's media key over Olm (src/bridge/adapters/rtc/media-keys.ts) between two real OlmMachines
// (matrix-sdk-crypto-wasm, in memory), the homeserver's part played by hand: the key Element
// Call's content carries comes out of the other machine as sent, and only from an Olm message.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  DeviceId,
  DeviceLists,
  OlmMachine,
  RequestType,
  UserId,
  type KeysUploadRequest,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import { encryptMediaKey, mediaKeyContent, mediaKeysOf } from "../../src/bridge/adapters/rtc/media-keys.js";

const GHOST = "@_people_joe=40people.test:localhost";
const ALICE = "@alice:localhost";

interface Uploaded {
  deviceKeys: unknown;
  oneTimeKeys: Record<string, unknown>;
}

/** Answers the machine's key upload as the homeserver would, and returns what it uploaded. */
async function upload(machine: OlmMachine): Promise<Uploaded> {
  const req = (await machine.outgoingRequests()).find((r) => r.type === RequestType.KeysUpload) as
    KeysUploadRequest | undefined;
  assert.ok(req, "a new machine uploads its keys");
  const body = JSON.parse(req.body) as { device_keys: unknown; one_time_keys: Record<string, unknown> };
  const count = Object.keys(body.one_time_keys ?? {}).length;
  await machine.markRequestAsSent(
    req.id!,
    req.type,
    JSON.stringify({ one_time_key_counts: { signed_curve25519: count } }),
  );
  return { deviceKeys: body.device_keys, oneTimeKeys: body.one_time_keys ?? {} };
}

describe("MatrixRTC media keys over Olm (two OlmMachines)", function () {
  this.timeout(60_000);
  let ghost: OlmMachine;
  let alice: OlmMachine;

  before(async function () {
    ghost = await OlmMachine.initialize(new UserId(GHOST), new DeviceId("GHOSTDEV"));
    alice = await OlmMachine.initialize(new UserId(ALICE), new DeviceId("ALICEDEV"));
    await upload(ghost);
    const a = await upload(alice);
    // The ghost learns Alice's device (keys/query) and claims one of her one-time keys.
    await ghost.updateTrackedUsers([new UserId(ALICE)]);
    const query = (await ghost.outgoingRequests()).find((r) => r.type === RequestType.KeysQuery);
    assert.ok(query);
    await ghost.markRequestAsSent(
      query.id!,
      query.type,
      JSON.stringify({ device_keys: { [ALICE]: { ALICEDEV: a.deviceKeys } }, failures: {} }),
    );
    const claim = await ghost.getMissingSessions([new UserId(ALICE)]);
    assert.ok(claim, "the ghost has no session with Alice yet");
    const [otkId, otk] = Object.entries(a.oneTimeKeys)[0] ?? assert.fail("no one-time key");
    await ghost.markRequestAsSent(
      claim.id,
      RequestType.KeysClaim,
      JSON.stringify({ one_time_keys: { [ALICE]: { ALICEDEV: { [otkId]: otk } } }, failures: {} }),
    );
  });

  after(function () {
    ghost?.close();
    alice?.close();
  });

  it("Alice's machine decrypts the ghost's key, as Element Call would read it", async function () {
    const key = randomBytes(16);
    const content = mediaKeyContent({
      roomId: "!dm:localhost",
      deviceId: "GHOSTDEV",
      memberId: "m1",
      index: 3,
      key,
    });
    const { messages, unknown } = await encryptMediaKey(
      ghost,
      [
        { userId: ALICE, deviceId: "ALICEDEV" },
        { userId: ALICE, deviceId: "NOSUCHDEV" },
      ],
      content,
    );
    assert.deepEqual(unknown, [`${ALICE}:NOSUCHDEV`]);
    const encrypted = messages[ALICE]?.ALICEDEV as { algorithm: string; ciphertext: Record<string, unknown> };
    assert.equal(encrypted.algorithm, "m.olm.v1.curve25519-aes-sha2");
    assert.ok(
      !JSON.stringify(encrypted).includes(Buffer.from(key).toString("base64")),
      "no key in the clear",
    );

    const processed = await alice.receiveSyncChanges(
      JSON.stringify([{ sender: GHOST, type: "m.room.encrypted", content: encrypted }]),
      new DeviceLists(),
      new Map(),
      new Set(),
    );
    const keys = mediaKeysOf(processed);
    assert.equal(keys.length, 1);
    assert.equal(keys[0]?.userId, GHOST);
    assert.equal(keys[0]?.deviceId, "GHOSTDEV");
    assert.equal(keys[0]?.index, 3);
    assert.deepEqual([...(keys[0]?.key ?? [])], [...key]);
  });

  it("a key claiming another device than the one that sent it is not taken", async function () {
    // The Olm message carries the sender's device keys (MSC4147), so Alice knows which device sent it.
    const content = mediaKeyContent({
      roomId: "!dm:localhost",
      deviceId: "SOMEONEELSE",
      memberId: "m3",
      index: 0,
      key: randomBytes(16),
    });
    const { messages } = await encryptMediaKey(ghost, [{ userId: ALICE, deviceId: "ALICEDEV" }], content);
    const processed = await alice.receiveSyncChanges(
      JSON.stringify([{ sender: GHOST, type: "m.room.encrypted", content: messages[ALICE]?.ALICEDEV }]),
      new DeviceLists(),
      new Map(),
      new Set(),
    );
    const decrypted =
      processed[0] && "encryptionInfo" in processed[0] ? processed[0] : assert.fail("not decrypted");
    assert.equal(decrypted.encryptionInfo.senderDevice?.toString(), "GHOSTDEV");
    const why: string[] = [];
    assert.deepEqual(
      mediaKeysOf(processed, (w) => why.push(w)),
      [],
    );
    assert.deepEqual(why, ["the key names another device than the one that sent it"], "the drop is told");
  });

  it("a key sent in the clear is not taken", async function () {
    const content = mediaKeyContent({
      roomId: "!dm:localhost",
      deviceId: "EVE",
      memberId: "m2",
      index: 0,
      key: randomBytes(16),
    });
    const processed = await alice.receiveSyncChanges(
      JSON.stringify([{ sender: "@eve:localhost", type: "io.element.call.encryption_keys", content }]),
      new DeviceLists(),
      new Map(),
      new Set(),
    );
    assert.equal(processed.length, 1, "the plaintext event was processed");
    assert.deepEqual(mediaKeysOf(processed), []);
  });
});
