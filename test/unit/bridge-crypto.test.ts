// End-to-bridge encryption parts without a homeserver: the transaction
// extension parser (property tests), sealed snapshots, the IndexedDB snapshot
// of a real OlmMachine restored into a fresh in-memory IndexedDB, and what
// room state says about encryption settings.
import assert from "node:assert/strict";
import fc from "fast-check";
import { IDBFactory } from "fake-indexeddb";
import "fake-indexeddb/auto";
import {
  DeviceId,
  HistoryVisibility,
  OlmMachine,
  StoreHandle,
  UserId,
  initAsync,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import { decryptAttachment, encryptAttachment } from "../../src/bridge/adapters/crypto/attachments.js";
import { ConfigError, parseBridgeConfig } from "../../src/bridge/config.js";
import { generateRegistration, registrationMismatches } from "../../src/bridge/registration.js";
import { restoreDatabases, snapshotDatabases } from "../../src/bridge/adapters/crypto/idb-snapshot.js";
import { parseSyncChanges } from "../../src/bridge/adapters/crypto/olm-identity.js";
import { newIdbFactory, type IdbFactory } from "../../src/bridge/adapters/crypto/idb-types.js";
import {
  encryptionSettings,
  keyRecipients,
  roomCryptoInfo,
} from "../../src/bridge/adapters/crypto/room-state.js";
import { openSnapshot, sealSnapshot } from "../../src/bridge/adapters/crypto/sealed-snapshot.js";
import {
  DEVICE_LISTS_KEY,
  FALLBACK_KEYS_KEY,
  OTK_COUNT_KEY,
  TO_DEVICE_KEY,
  devicesIn,
  isEmpty,
  parseTransactionExtensions,
} from "../../src/bridge/adapters/crypto/transaction-extensions.js";
import { isMatrixUserId } from "../../src/bridge/model/matrix-ids.js";
import { isBridgeError } from "../../src/bridge/core/error-kinds.js";

const RUNS = 300;

const localpart = fc.stringMatching(/^[a-z0-9._=-]{1,12}$/);
const userId = fc
  .tuple(localpart, fc.constantFrom("localhost", "example.com", "hs.test:8448"))
  .map(([l, s]) => `@${l}:${s}`);
const deviceId = fc.stringMatching(/^[A-Z]{1,12}$/);
const toDevice = fc.record({
  type: fc.constantFrom("m.room.encrypted", "m.room_key_request", "m.secret.request"),
  sender: userId,
  to_user_id: userId,
  to_device_id: deviceId,
  content: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 })),
});
const counts = fc.dictionary(fc.constantFrom("signed_curve25519", "curve25519"), fc.nat(100));
const junk = fc.oneof(
  fc.constant(null),
  fc.integer(),
  fc.string({ maxLength: 5 }),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
);

describe("bridge crypto: transaction extensions", () => {
  it("never throws on any JSON body, and keeps only well-formed entries", () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom(TO_DEVICE_KEY, DEVICE_LISTS_KEY, OTK_COUNT_KEY, FALLBACK_KEYS_KEY, "events"),
          fc.jsonValue({ maxDepth: 4 }),
        ),
        (body) => {
          const x = parseTransactionExtensions(body as Record<string, unknown>);
          for (const m of x.toDevice) {
            assert.ok(isMatrixUserId(m.sender) && isMatrixUserId(m.toUserId));
            assert.ok(m.toDeviceId.length > 0 && typeof m.content === "object");
          }
          for (const u of [...x.deviceLists.changed, ...x.deviceLists.left]) assert.ok(isMatrixUserId(u));
          for (const [u, devices] of x.oneTimeKeyCounts) {
            assert.ok(isMatrixUserId(u));
            for (const c of devices.values())
              for (const n of c.values()) assert.ok(Number.isSafeInteger(n) && n >= 0);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("keeps every valid entry and counts each malformed one it drops", () => {
    fc.assert(
      fc.property(
        fc.array(toDevice, { maxLength: 6 }),
        fc.array(junk, { maxLength: 4 }),
        fc.uniqueArray(userId, { maxLength: 5 }),
        fc.dictionary(userId, fc.dictionary(deviceId, counts, { minKeys: 1, maxKeys: 2 }), { maxKeys: 3 }),
        fc.dictionary(
          userId,
          fc.dictionary(deviceId, fc.constant(["signed_curve25519"]), { minKeys: 1, maxKeys: 2 }),
          { maxKeys: 3 },
        ),
        (valid, bad, changed, otk, fallback) => {
          const body = {
            [TO_DEVICE_KEY]: [...valid, ...bad],
            [DEVICE_LISTS_KEY]: { changed: [...changed, 42], left: [] },
            [OTK_COUNT_KEY]: otk,
            [FALLBACK_KEYS_KEY]: fallback,
          };
          const x = parseTransactionExtensions(body);
          assert.equal(x.toDevice.length, valid.length);
          // Junk values are never valid to-device events; 42 is not a user id.
          assert.equal(x.dropped, bad.length + 1);
          assert.deepEqual(
            x.toDevice.map((m) => m.toDeviceId),
            valid.map((v) => v.to_device_id),
          );
          assert.deepEqual(new Set(x.deviceLists.changed), new Set(changed));
          for (const [u, devices] of Object.entries(otk))
            for (const [d, c] of Object.entries(devices))
              assert.deepEqual(Object.fromEntries(x.oneTimeKeyCounts.get(u as never)!.get(d)!), { ...c });
          assert.equal(x.fallbackKeyTypes.size, Object.keys(fallback).length);
          const devices = devicesIn(x);
          for (const v of valid) assert.ok(devices.get(v.to_user_id as never)?.has(v.to_device_id));
          assert.equal(
            isEmpty(x),
            valid.length === 0 &&
              changed.length === 0 &&
              Object.keys(otk).length === 0 &&
              Object.keys(fallback).length === 0,
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("drops a key of the wrong shape as a whole, and reads the older spelling of the key counts", () => {
    const x = parseTransactionExtensions({
      [TO_DEVICE_KEY]: "nope",
      [DEVICE_LISTS_KEY]: [],
      "org.matrix.msc3202.device_one_time_key_counts": { "@a:hs": { DEV: { signed_curve25519: 3 } } },
      [FALLBACK_KEYS_KEY]: { "@a:hs": { DEV: ["signed_curve25519", 5] } },
    });
    assert.equal(x.toDevice.length, 0);
    assert.equal(
      x.oneTimeKeyCounts
        .get("@a:hs" as never)
        ?.get("DEV")
        ?.get("signed_curve25519"),
      3,
    );
    assert.equal(x.fallbackKeyTypes.size, 0);
    assert.equal(x.dropped, 3);
    const negative = parseTransactionExtensions({
      [OTK_COUNT_KEY]: { "@a:hs": { DEV: { signed_curve25519: -1 } } },
    });
    assert.equal(negative.oneTimeKeyCounts.size, 0);
    assert.equal(negative.dropped, 1);
  });
});

describe("bridge crypto: sealed snapshots", () => {
  const key = Buffer.alloc(32, 9);
  it("open what was sealed for the same identity only, and refuse any changed byte", () => {
    const plain = Buffer.from("machine state");
    const sealed = sealSnapshot(key, "@a:hs", "DEV", plain);
    assert.deepEqual(openSnapshot(key, "@a:hs", "DEV", sealed), plain);
    assert.ok(!sealed.includes(plain));
    assert.throws(
      () => openSnapshot(key, "@b:hs", "DEV", sealed),
      (e: unknown) => isBridgeError(e, "snapshot_unreadable"),
    );
    assert.throws(
      () => openSnapshot(key, "@a:hs", "DEV2", sealed),
      (e: unknown) => isBridgeError(e, "snapshot_unreadable"),
    );
    assert.throws(
      () => openSnapshot(Buffer.alloc(32, 8), "@a:hs", "DEV", sealed),
      (e: unknown) => isBridgeError(e, "snapshot_unreadable"),
    );
    for (const i of [0, 5, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[i]! ^= 1;
      assert.throws(
        () => openSnapshot(key, "@a:hs", "DEV", bad),
        (e: unknown) => isBridgeError(e, "snapshot_unreadable"),
      );
    }
  });
});

describe("bridge crypto: IndexedDB snapshots of a real OlmMachine", function () {
  this.timeout(30_000);
  before(() => initAsync());

  async function openMachine(idb: IdbFactory, name: string) {
    const g = globalThis as { indexedDB?: unknown };
    const before = g.indexedDB;
    g.indexedDB = idb;
    try {
      const handle = await StoreHandle.openWithKey(name, new Uint8Array(32).fill(3));
      return await OlmMachine.initFromStore(
        new UserId("@ghost:localhost"),
        new DeviceId("PEOPLEDEV"),
        handle,
      );
    } finally {
      g.indexedDB = before;
    }
  }
  const dbs = (name: string) => [`${name}::matrix-sdk-crypto`, `${name}::matrix-sdk-crypto-meta`];

  it("restores identity keys and tracked users into a fresh IndexedDB", async () => {
    const first = newIdbFactory(IDBFactory as unknown as new () => unknown);
    const machine = await openMachine(first, "snap");
    const keys = machine.identityKeys.curve25519.toBase64();
    await machine.updateTrackedUsers([new UserId("@alice:localhost")]);
    const bytes = await snapshotDatabases(first, dbs("snap"));
    machine.close();

    const second = newIdbFactory(IDBFactory as unknown as new () => unknown);
    await restoreDatabases(second, bytes);
    const again = await openMachine(second, "snap");
    assert.equal(again.identityKeys.curve25519.toBase64(), keys);
    const tracked = [...(await again.trackedUsers())].map((u) => u.toString());
    assert.ok(tracked.includes("@alice:localhost"));
    again.close();

    // Without the snapshot a new machine is a new identity.
    const third = await openMachine(newIdbFactory(IDBFactory as unknown as new () => unknown), "snap");
    assert.notEqual(third.identityKeys.curve25519.toBase64(), keys);
    third.close();
  });

  it("refuses bytes that are not a snapshot", async () => {
    const idb = newIdbFactory(IDBFactory as unknown as new () => unknown);
    await assert.rejects(restoreDatabases(idb, Buffer.from([1, 2, 3])));
  });
});

describe("bridge crypto: room state", () => {
  const member = (u: string, membership: string) => ({
    type: "m.room.member",
    state_key: u,
    content: { membership },
  });
  it("reads encryption, rotation, history visibility and members", () => {
    const info = roomCryptoInfo([
      {
        type: "m.room.encryption",
        state_key: "",
        content: {
          algorithm: "m.megolm.v1.aes-sha2",
          rotation_period_ms: 3_600_000,
          rotation_period_msgs: 5,
        },
      },
      { type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } },
      member("@a:hs", "join"),
      member("@b:hs", "invite"),
      member("@c:hs", "leave"),
    ]);
    assert.deepEqual(info.encryption, {
      algorithm: "m.megolm.v1.aes-sha2",
      rotationPeriodMs: 3_600_000,
      rotationPeriodMsgs: 5,
    });
    assert.deepEqual(keyRecipients(info), ["@a:hs"]);
    const s = encryptionSettings(info);
    assert.equal(s.rotationPeriod, 3_600_000_000n);
    assert.equal(s.rotationPeriodMessages, 5n);
    assert.equal(s.historyVisibility, HistoryVisibility.Joined);
  });

  it("shares with invited members unless history is joined-only, and uses the spec's defaults", () => {
    const info = roomCryptoInfo([
      {
        type: "m.room.encryption",
        state_key: "",
        content: { algorithm: "m.megolm.v1.aes-sha2", rotation_period_ms: -5 },
      },
      member("@a:hs", "join"),
      member("@b:hs", "invite"),
    ]);
    assert.deepEqual(keyRecipients(info), ["@a:hs", "@b:hs"]);
    const s = encryptionSettings(info);
    assert.equal(s.rotationPeriod, 7n * 86_400_000n * 1000n);
    assert.equal(s.rotationPeriodMessages, 100n);
    assert.equal(roomCryptoInfo([member("@a:hs", "join")]).encryption, null);
  });
});

describe("bridge crypto: encrypted attachments", () => {
  it("decrypt what was encrypted, and refuse a changed byte before decrypting", () => {
    const plain = Buffer.from("an image, say".repeat(100));
    const { ciphertext, file } = encryptAttachment(plain);
    assert.equal(ciphertext.length, plain.length);
    assert.ok(!ciphertext.includes(plain.subarray(0, 16)));
    assert.deepEqual(decryptAttachment(ciphertext, file), plain);
    const bad = Buffer.from(ciphertext);
    bad[7]! ^= 1;
    assert.throws(
      () => decryptAttachment(bad, file),
      (e: unknown) => isBridgeError(e, "attachment_unreadable"),
    );
    assert.throws(
      () => decryptAttachment(ciphertext, { ...file, iv: "AAAA" }),
      (e: unknown) => isBridgeError(e, "attachment_unreadable"),
    );
  });
});

describe("bridge crypto: /sync catch-up parsing", () => {
  it("keeps well-formed to-device events, device lists and counts; needs next_batch", () => {
    const c = parseSyncChanges({
      next_batch: "s1",
      to_device: { events: [{ type: "m.room.encrypted", sender: "@a:hs", content: {} }, { type: 5 }, "x"] },
      device_lists: { changed: ["@a:hs", 3], left: [] },
      device_one_time_keys_count: { signed_curve25519: 50, bad: -1 },
      device_unused_fallback_key_types: ["signed_curve25519"],
    });
    assert.equal(c?.nextBatch, "s1");
    assert.equal(c?.toDevice.length, 1);
    assert.deepEqual(c?.changed, ["@a:hs"]);
    assert.deepEqual([...(c?.oneTimeKeyCounts ?? [])], [["signed_curve25519", 50]]);
    assert.deepEqual(c?.fallbackKeyTypes, ["signed_curve25519"]);
    assert.equal(parseSyncChanges({ to_device: { events: [] } }), undefined);
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) => {
        const body = v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : { v };
        parseSyncChanges(body);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("bridge crypto: config", () => {
  const base = {
    homeserver: { url: "http://127.0.0.1:8008", domain: "localhost" },
    people: { domain: "people.test", data_dir: "/tmp/people-config-test" },
  };
  it("is off by default, with a generated pickle key", () => {
    const c = parseBridgeConfig(base);
    assert.deepEqual(c.encryption, {
      allow: false,
      default: false,
      require: false,
      pickle_key: "generate",
      max_machines: 64,
      idle_seconds: 300,
    });
  });
  it("names the key that is wrong", () => {
    for (const [encryption, path] of [
      [{ default: true }, "encryption.default"],
      [{ require: true }, "encryption.require"],
      [{ allow: true, pickle_key: "short" }, "encryption.pickle_key"],
      [{ allow: "yes" }, "encryption.allow"],
      [{ allow: true, typo: 1 }, "encryption.typo"],
    ] as const) {
      assert.throws(
        () => parseBridgeConfig({ ...base, encryption }),
        (err: unknown) => err instanceof ConfigError && err.path === path,
        JSON.stringify(encryption),
      );
    }
    const ok = parseBridgeConfig({
      ...base,
      encryption: { allow: true, require: true, pickle_key: "x".repeat(32) },
    });
    assert.equal(ok.encryption.require, true);
  });
  it("refuses a registration without the encryption extensions when allowed", () => {
    const config = parseBridgeConfig({ ...base, encryption: { allow: true } });
    const registration = generateRegistration(config, null);
    assert.deepEqual(registrationMismatches(registration, config), []);
    const without = { ...registration, "org.matrix.msc3202": false };
    assert.match(registrationMismatches(without, config).join(), /org\.matrix\.msc3202/);
  });
});
