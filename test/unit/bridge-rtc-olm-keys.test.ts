// MatrixRTC media keys through the bridge's own crypto (CryptoManager / CryptoIdentity, real
// OlmMachines, real SQLite) and Alice's OlmMachine, the homeserver's key endpoints played by a
// small stand-in: the ghost's key leaves Olm-encrypted from its own device (sessions claimed on the
// way) and Alice reads it; Alice's key, fed in as an appservice transaction's to-device part,
// comes out of onToDevice as the media key RtcCalls takes.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  DeviceId,
  DeviceLists,
  OlmMachine,
  RequestType,
  UserId,
  type KeysUploadRequest,
  type ProcessedToDeviceEvent,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import { CryptoManager } from "../../src/bridge/adapters/crypto/crypto-manager.js";
import { CryptoStoreKey } from "../../src/bridge/adapters/crypto/crypto-store-key.js";
import type { As, MatrixRequests } from "../../src/bridge/adapters/crypto/matrix-requests.js";
import type { Json } from "../../src/bridge/adapters/crypto/transaction-extensions.js";
import { encryptMediaKey, mediaKeyContent, mediaKeysOf } from "../../src/bridge/adapters/rtc/media-keys.js";
import { ENCRYPTION_KEYS_TYPE } from "../../src/bridge/adapters/rtc/rtc-events.js";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import { createBridgeLogger } from "../../src/bridge/logger.js";
import type { MatrixUserId } from "../../src/bridge/model/matrix-ids.js";

const GHOST = "@_people_joe=40b.test:hs.test";
const ALICE = "@alice:hs.test";
const ROOM = "!dm:hs.test";

/** Alice's machine's first key upload, answered as the homeserver would. */
async function uploadOf(
  machine: OlmMachine,
): Promise<{ deviceKeys: unknown; otks: Record<string, unknown> }> {
  const req = (await machine.outgoingRequests()).find((r) => r.type === RequestType.KeysUpload) as
    KeysUploadRequest | undefined;
  assert.ok(req);
  const body = JSON.parse(req.body) as { device_keys: unknown; one_time_keys: Record<string, unknown> };
  await machine.markRequestAsSent(
    req.id!,
    req.type,
    JSON.stringify({ one_time_key_counts: { signed_curve25519: Object.keys(body.one_time_keys).length } }),
  );
  return { deviceKeys: body.device_keys, otks: body.one_time_keys };
}

describe("MatrixRTC media keys through the bridge's crypto (CryptoManager ⇄ an OlmMachine)", function () {
  this.timeout(120_000);
  let store: Awaited<ReturnType<typeof openBridgeStore>>;
  let manager: CryptoManager;
  let alice: OlmMachine;
  let aliceKeys: { deviceKeys: unknown; otks: Record<string, unknown> };
  /** What the ghost's device uploaded (device keys, one-time keys). */
  const ghostKeys: { device?: Json; otks: Record<string, unknown> } = { otks: {} };
  const toDevice: { type: string; messages: Record<string, Record<string, unknown>> }[] = [];
  const processed: { user: string; events: ProcessedToDeviceEvent[] }[] = [];

  const homeserver = (method: string, path: string, _as: As, body: unknown): Json => {
    // The machine's requests carry their bodies as JSON text.
    const b = (typeof body === "string" ? JSON.parse(body) : (body ?? {})) as Record<
      string,
      Record<string, unknown>
    >;
    if (path.endsWith("/keys/upload")) {
      if (b.device_keys) ghostKeys.device = b.device_keys as Json;
      Object.assign(ghostKeys.otks, b.one_time_keys ?? {});
      return { one_time_key_counts: { signed_curve25519: Object.keys(ghostKeys.otks).length } };
    }
    if (path.endsWith("/keys/query")) {
      const asked = Object.keys(b.device_keys ?? {});
      const device_keys: Record<string, unknown> = {};
      if (asked.includes(ALICE)) device_keys[ALICE] = { ALICEDEV: aliceKeys.deviceKeys };
      return { device_keys, failures: {} };
    }
    if (path.endsWith("/keys/claim")) {
      const [id, otk] = Object.entries(aliceKeys.otks)[0]!;
      delete aliceKeys.otks[id];
      return { one_time_keys: { [ALICE]: { ALICEDEV: { [id]: otk } } }, failures: {} };
    }
    if (method === "PUT" && path.includes("/sendToDevice/")) {
      const type = decodeURIComponent(path.split("/")[5]!);
      toDevice.push({ type, messages: (b as { messages: never }).messages });
      return {};
    }
    return {}; // the device itself, cross-signing uploads
  };

  before(async function () {
    store = await openBridgeStore({ engine: "sqlite", connection: ":memory:" });
    const http: MatrixRequests = {
      request: async (method, path, as, body) => homeserver(method, path, as, body),
      requestJson: async (method, path, as, body) => homeserver(method, path, as, body),
    };
    manager = new CryptoManager({
      store: store.crypto,
      key: CryptoStoreKey.fromBytes(Buffer.alloc(32, 3)),
      http,
      log: createBridgeLogger("silent"),
      deviceDisplayName: "test",
      onToDevice: (user, events) => processed.push({ user, events }),
    });
    await manager.start();
    alice = await OlmMachine.initialize(new UserId(ALICE), new DeviceId("ALICEDEV"));
    aliceKeys = await uploadOf(alice);
  });

  after(async function () {
    await manager?.close();
    alice?.close();
    await store?.close();
  });

  it("the ghost's key leaves Olm-encrypted from its own device, and Alice's machine reads it", async function () {
    const key = randomBytes(16);
    const device = await manager.with(GHOST, async (id) => id.deviceId);
    const content = mediaKeyContent({ roomId: ROOM, deviceId: device, memberId: "m", index: 1, key });
    const unknown = await manager.with(GHOST, (id) =>
      id.sendEncryptedToDevice(
        [
          { userId: ALICE, deviceId: "ALICEDEV" },
          { userId: ALICE, deviceId: "NOSUCHDEV" },
        ],
        ENCRYPTION_KEYS_TYPE,
        content as Json,
      ),
    );
    assert.deepEqual(unknown, [`${ALICE}:NOSUCHDEV`]);
    const sent = toDevice.at(-1)!;
    assert.equal(sent.type, "m.room.encrypted", "sent encrypted, never as the key's own type");
    const encrypted = sent.messages[ALICE]?.ALICEDEV;
    assert.ok(encrypted);
    assert.ok(!JSON.stringify(sent).includes(Buffer.from(key).toString("base64")), "no key in the clear");
    const got = mediaKeysOf(
      await alice.receiveSyncChanges(
        JSON.stringify([{ sender: GHOST, type: "m.room.encrypted", content: encrypted }]),
        new DeviceLists(),
        new Map(),
        new Set(),
      ),
    );
    assert.equal(got.length, 1);
    assert.equal(got[0]!.userId, GHOST);
    assert.equal(got[0]!.deviceId, device);
    assert.deepEqual([...got[0]!.key], [...key]);
  });

  it("Alice's key, in a transaction for the ghost's device, comes out of onToDevice as a media key", async function () {
    const device = await manager.with(GHOST, async (id) => id.deviceId);
    // Alice learns the ghost's device (keys/query) and claims one of its one-time keys.
    await alice.updateTrackedUsers([new UserId(GHOST)]);
    const query = (await alice.outgoingRequests()).find((r) => r.type === RequestType.KeysQuery);
    assert.ok(query && ghostKeys.device);
    await alice.markRequestAsSent(
      query.id!,
      query.type,
      JSON.stringify({ device_keys: { [GHOST]: { [device]: ghostKeys.device } }, failures: {} }),
    );
    const claim = await alice.getMissingSessions([new UserId(GHOST)]);
    if (claim) {
      const [id, otk] = Object.entries(ghostKeys.otks)[0]!;
      await alice.markRequestAsSent(
        claim.id,
        RequestType.KeysClaim,
        JSON.stringify({ one_time_keys: { [GHOST]: { [device]: { [id]: otk } } }, failures: {} }),
      );
    }
    const key = randomBytes(16);
    const content = mediaKeyContent({ roomId: ROOM, deviceId: "ALICEDEV", memberId: "a", index: 0, key });
    const { messages } = await encryptMediaKey(alice, [{ userId: GHOST, deviceId: device }], content);
    const before = processed.length;
    await manager.receive({
      toDevice: [
        {
          type: "m.room.encrypted",
          sender: ALICE as MatrixUserId,
          toUserId: GHOST as MatrixUserId,
          toDeviceId: device,
          content: messages[GHOST]![device] as Json,
        },
      ],
      deviceLists: { changed: [], left: [] },
      oneTimeKeyCounts: new Map(),
      fallbackKeyTypes: new Map(),
      dropped: 0,
    });
    const handed = processed.slice(before);
    assert.equal(handed.length, 1);
    assert.equal(handed[0]!.user, GHOST);
    const keys = mediaKeysOf(handed[0]!.events);
    assert.equal(keys.length, 1);
    assert.deepEqual(
      [keys[0]!.userId, keys[0]!.deviceId, keys[0]!.roomId, keys[0]!.index],
      [ALICE, "ALICEDEV", ROOM, 0],
    );
    assert.deepEqual([...keys[0]!.key], [...key]);
  });
});
