import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import knex, { type Knex } from "knex";
import { GroupCommit, type ItemOutcome } from "../../src/store/knex/group-commit.js";
import { MIGRATIONS } from "../../src/store/knex/migrations/index.js";
import { openStore } from "../../src/store/index.js";
import type {
  AccountRecord,
  DeviceKeyRecord,
  DeviceRecord,
  IngestRow,
  PeopleStore,
  StoreConfig,
} from "../../src/store/types.js";
import { forEachEngine } from "../helpers/stores.js";

const DAY = 24 * 60 * 60 * 1000;
const FAR = Date.now() + 30 * DAY;

let counter = 0;
const newAddress = (): string => `u${++counter}-${randomBytes(3).toString("hex")}@people.test`;
const newId = (): string => randomBytes(16).toString("base64url");

function deviceRecord(address: string, device: string, headSeq = 1): DeviceRecord {
  return {
    address,
    device,
    chainJson: JSON.stringify([{ device, seq: headSeq }]),
    headSeq,
    signKey: `sign-${device}-${headSeq}`,
    revokedAt: null,
  };
}

function accountRecord(address: string, quotaBytes = 10_000_000): AccountRecord {
  return {
    address,
    accountKey: "account-key-" + address,
    deviceListJson: JSON.stringify({ v: 1, address }),
    deviceListVersion: 1,
    profileJson: null,
    quotaBytes,
    createdAt: 1_700_000_000_000,
  };
}

async function makeAccount(
  store: PeopleStore,
  opts: { devices?: string[]; quotaBytes?: number } = {},
): Promise<string> {
  const address = newAddress();
  const devices = opts.devices ?? ["d1", "d2"];
  const result = await store.accounts.create(
    accountRecord(address, opts.quotaBytes),
    devices.map((d) => deviceRecord(address, d)),
    devices.map((d, i) => ({ keyId: `${i}${"0".repeat(15)}`.slice(0, 16), address, device: d, seq: 1 })),
  );
  assert.equal(result, "created");
  return address;
}

function envelope(recipient: string, devices: string[], over: Partial<IngestRow> = {}): IngestRow {
  return {
    envelopeId: newId(),
    recipient,
    inner: randomBytes(64),
    expiresAt: FAR,
    receivedAt: Date.now(),
    devices,
    ...over,
  };
}

/** A second, plain knex on the same data, to look at the schema itself. */
function rawKnex(config: StoreConfig): Knex {
  return config.engine === "postgres"
    ? knex({ client: "pg", connection: config.connection, pool: { min: 0, max: 1 } })
    : knex({ client: "better-sqlite3", connection: { filename: config.connection }, useNullAsDefault: true });
}

function stored(result: { status: string; seq?: number }): number {
  assert.equal(result.status, "stored");
  assert.ok(typeof result.seq === "number" && Number.isSafeInteger(result.seq));
  return result.seq;
}

forEachEngine("PeopleStore", (getStore, ctx) => {
  describe("migrations", () => {
    it("migrate a fresh database to the latest, and are a no-op on reopening", async () => {
      const raw = rawKnex(ctx.config());
      try {
        const names = async (): Promise<string[]> =>
          (await raw("knex_migrations").orderBy("id").select("name")).map((r: { name: string }) => r.name);
        assert.deepEqual(
          await names(),
          MIGRATIONS.map((m) => m.name),
        );
        const second = await openStore(ctx.config());
        await second.ping();
        assert.equal(typeof (await second.accounts.count()), "number");
        await second.close();
        assert.deepEqual(
          await names(),
          MIGRATIONS.map((m) => m.name),
        );
        for (const table of [
          "accounts",
          "devices",
          "device_keys",
          "envelopes",
          "deliveries",
          "seen_envelope_ids",
          "server_keys",
          "tokens",
          "blobs",
          "posts",
          "post_blobs",
        ]) {
          assert.ok(await raw.schema.hasTable(table), table);
        }
        if (ctx.engine === "sqlite") {
          const mode = (await raw.raw("pragma journal_mode")) as { journal_mode: string }[];
          assert.equal(mode[0]?.journal_mode, "wal");
        }
      } finally {
        await raw.destroy();
      }
    });

    it("ping", async () => {
      await getStore().ping();
    });
  });

  describe("accounts", () => {
    it("create is idempotent on the address: created, then exists", async () => {
      const store = getStore();
      const before = await store.accounts.count();
      const address = newAddress();
      const record = { ...accountRecord(address), profileJson: '{"name":"x"}' };
      const devices = [deviceRecord(address, "d1"), { ...deviceRecord(address, "d2"), revokedAt: 1234 }];
      assert.equal(await store.accounts.create(record, devices, []), "created");
      assert.equal(await store.accounts.create({ ...record, accountKey: "other" }, [], []), "exists");
      assert.deepEqual(await store.accounts.get(address), record);
      assert.equal(await store.accounts.get(newAddress()), undefined);
      assert.equal(await store.accounts.count(), before + 1);
      assert.deepEqual(await store.accounts.devices(address), devices);
      assert.deepEqual(await store.accounts.device(address, "d2"), devices[1]);
      assert.equal(await store.accounts.device(address, "d3"), undefined);
    });

    it("updateDevices: only a strictly newer version replaces devices and keys", async () => {
      const store = getStore();
      const address = newAddress();
      const keys: DeviceKeyRecord[] = [{ keyId: "aa00000000000001", address, device: "d1", seq: 1 }];
      await store.accounts.create(accountRecord(address), [deviceRecord(address, "d1")], keys);

      const same = await store.accounts.updateDevices(address, { json: '{"v":"same"}', version: 1 }, [], []);
      assert.equal(same, "stale");
      assert.equal(
        (await store.accounts.get(address))?.deviceListJson,
        accountRecord(address).deviceListJson,
      );

      const newDevices = [deviceRecord(address, "d1", 2), deviceRecord(address, "d9")];
      const newKeys: DeviceKeyRecord[] = [
        { keyId: "aa00000000000001", address, device: "d1", seq: 1 },
        { keyId: "aa00000000000002", address, device: "d1", seq: 2 },
        { keyId: "bb00000000000001", address, device: "d9", seq: 1 },
      ];
      const updated = await store.accounts.updateDevices(
        address,
        { json: '{"v":2}', version: 2 },
        newDevices,
        newKeys,
      );
      assert.equal(updated, "updated");
      const account = await store.accounts.get(address);
      assert.equal(account?.deviceListVersion, 2);
      assert.equal(account?.deviceListJson, '{"v":2}');
      assert.deepEqual(await store.accounts.devices(address), newDevices);
      assert.deepEqual(await store.accounts.devicesForKeyIds(address, ["bb00000000000001"]), ["d9"]);

      const older = await store.accounts.updateDevices(address, { json: '{"v":1}', version: 1 }, [], []);
      assert.equal(older, "stale");
      assert.deepEqual(await store.accounts.devices(address), newDevices);

      await assert.rejects(store.accounts.updateDevices(newAddress(), { json: "{}", version: 5 }, [], []));
    });

    it("concurrent updates with the same version: exactly one wins", async () => {
      const store = getStore();
      const address = await makeAccount(store);
      const results = await Promise.all(
        [1, 2, 3, 4].map((i) =>
          store.accounts.updateDevices(
            address,
            { json: `{"i":${i}}`, version: 7 },
            [deviceRecord(address, `x${i}`)],
            [],
          ),
        ),
      );
      assert.equal(results.filter((r) => r === "updated").length, 1);
      assert.equal((await store.accounts.devices(address)).length, 1);
    });

    it("devicesForKeyIds finds current and retired keys of that address only", async () => {
      const store = getStore();
      const a = newAddress();
      const b = newAddress();
      await store.accounts.create(
        accountRecord(a),
        [deviceRecord(a, "d1"), deviceRecord(a, "d2")],
        [
          { keyId: "0100000000000001", address: a, device: "d1", seq: 1 },
          { keyId: "0100000000000002", address: a, device: "d1", seq: 2 },
          { keyId: "0200000000000001", address: a, device: "d2", seq: 1 },
        ],
      );
      await store.accounts.create(
        accountRecord(b),
        [deviceRecord(b, "d7")],
        [{ keyId: "0100000000000001", address: b, device: "d7", seq: 1 }],
      );
      assert.deepEqual(await store.accounts.devicesForKeyIds(a, ["0100000000000001", "0100000000000002"]), [
        "d1",
      ]);
      assert.deepEqual(
        await store.accounts.devicesForKeyIds(a, [
          "0200000000000001",
          "0100000000000002",
          "ffffffffffffffff",
        ]),
        ["d1", "d2"],
      );
      assert.deepEqual(await store.accounts.devicesForKeyIds(b, ["0100000000000001"]), ["d7"]);
      assert.deepEqual(await store.accounts.devicesForKeyIds(a, []), []);
    });

    it("setProfile", async () => {
      const store = getStore();
      const address = await makeAccount(store);
      assert.equal(await store.accounts.setProfile(address, '{"signed":2}', 2_000), "updated");
      assert.equal((await store.accounts.get(address))?.profileJson, '{"signed":2}');
      // Older, or as old with other bytes: refused; the very same again: a repeat.
      assert.equal(await store.accounts.setProfile(address, '{"signed":1}', 1_000), "stale");
      assert.equal(await store.accounts.setProfile(address, '{"other":2}', 2_000), "stale");
      assert.equal(await store.accounts.setProfile(address, '{"signed":2}', 2_000), "same");
      assert.equal((await store.accounts.get(address))?.profileJson, '{"signed":2}');
      // Concurrent puts: the newest is what stays, whatever order they commit in.
      const puts = [3, 7, 5, 4, 6].map((n) =>
        store.accounts.setProfile(address, `{"signed":${n}}`, n * 1_000),
      );
      await Promise.all(puts);
      assert.equal((await store.accounts.get(address))?.profileJson, '{"signed":7}');
      await assert.rejects(store.accounts.setProfile(newAddress(), "{}", 1));
    });
  });

  describe("mailbox", () => {
    it("stored → pending for each device → ack by one keeps it for the other → last ack deletes it", async () => {
      const store = getStore();
      const address = await makeAccount(store);
      const depth0 = await store.mailbox.depth();
      const row = envelope(address, ["d1", "d2"], { inner: Buffer.from([0, 1, 2, 255, 0]) });
      const seq = stored(await store.mailbox.ingest(row));
      assert.equal(await store.mailbox.depth(), depth0 + 1);
      assert.equal(await store.accounts.usedBytes(address), 5);

      const expected = {
        seq,
        envelopeId: row.envelopeId,
        recipient: address,
        inner: row.inner,
        expiresAt: row.expiresAt,
        receivedAt: row.receivedAt,
      };
      assert.deepEqual(await store.mailbox.pending(address, "d1", 0, 10), [expected]);
      assert.deepEqual(await store.mailbox.pending(address, "d2", 0, 10), [expected]);
      assert.deepEqual(await store.mailbox.pending(address, "d3", 0, 10), []);
      assert.deepEqual(await store.mailbox.pending(address, "d1", seq, 10), []);

      assert.equal(await store.mailbox.ack(address, "d1", [row.envelopeId, newId()]), 1);
      assert.equal(await store.mailbox.ack(address, "d1", [row.envelopeId]), 0);
      assert.deepEqual(await store.mailbox.pending(address, "d1", 0, 10), []);
      assert.deepEqual(await store.mailbox.pending(address, "d2", 0, 10), [expected]);
      assert.equal(await store.mailbox.depth(), depth0 + 1);

      // Another account cannot acknowledge it for this one.
      assert.equal(await store.mailbox.ack(newAddress(), "d2", [row.envelopeId]), 0);

      assert.equal(await store.mailbox.ack(address, "d2", [row.envelopeId]), 1);
      assert.deepEqual(await store.mailbox.pending(address, "d2", 0, 10), []);
      assert.equal(await store.mailbox.depth(), depth0);
      assert.equal(await store.accounts.usedBytes(address), 0);
    });

    it("pending pages by cursor and limit, oldest first", async () => {
      const store = getStore();
      const address = await makeAccount(store, { devices: ["d1"] });
      const seqs: number[] = [];
      for (let i = 0; i < 5; i++) seqs.push(stored(await store.mailbox.ingest(envelope(address, ["d1"]))));
      const first = await store.mailbox.pending(address, "d1", 0, 2);
      assert.deepEqual(
        first.map((e) => e.seq),
        seqs.slice(0, 2),
      );
      const rest = await store.mailbox.pending(address, "d1", first[1]?.seq ?? 0, 10);
      assert.deepEqual(
        rest.map((e) => e.seq),
        seqs.slice(2),
      );
    });

    it("a duplicate envelope id is 'duplicate', also after ack and delete, until its expiry", async () => {
      const store = getStore();
      const address = await makeAccount(store, { devices: ["d1"] });
      // Short-lived timestamps of its own, so expire() below touches only this test's rows.
      const row = envelope(address, ["d1"], { expiresAt: 5_000, receivedAt: 1_000 });
      stored(await store.mailbox.ingest(row));
      assert.deepEqual(await store.mailbox.ingest(row), { status: "duplicate" });
      assert.deepEqual(await store.mailbox.ingest({ ...row, inner: randomBytes(8) }), {
        status: "duplicate",
      });
      assert.equal(await store.mailbox.ack(address, "d1", [row.envelopeId]), 1);
      assert.deepEqual(await store.mailbox.pending(address, "d1", 0, 10), []);
      // The envelope row is gone; its id is still remembered.
      assert.deepEqual(await store.mailbox.ingest(row), { status: "duplicate" });
      assert.equal(await store.mailbox.expire(4_999), 0);
      assert.deepEqual(await store.mailbox.ingest(row), { status: "duplicate" });
      // Past expiry the id is forgotten (the protocol refuses an expired envelope anyway).
      await store.mailbox.expire(5_000);
      stored(await store.mailbox.ingest(row));
      assert.equal(await store.mailbox.expire(5_000), 1);
    });

    it("200 concurrent ingests (group commit): all stored once, seqs unique and increasing", async () => {
      const store = getStore();
      const address = await makeAccount(store, { devices: ["d1", "d2"] });
      const rows = Array.from({ length: 200 }, () => envelope(address, ["d1", "d2"]));
      // Half now, half on the next turn of the event loop, while the first batch is being written.
      const firstWave = rows.slice(0, 100).map((r) => store.mailbox.ingest(r));
      await new Promise((r) => setImmediate(r));
      const secondWave = rows.slice(100).map((r) => store.mailbox.ingest(r));
      const seqs = (await Promise.all([...firstWave, ...secondWave])).map(stored);

      assert.equal(new Set(seqs).size, 200);
      for (let i = 1; i < seqs.length; i++) assert.ok((seqs[i] as number) > (seqs[i - 1] as number));
      for (const device of ["d1", "d2"]) {
        const pending = await store.mailbox.pending(address, device, 0, 1000);
        assert.deepEqual(
          pending.map((e) => e.seq),
          seqs,
        );
        assert.deepEqual(
          pending.map((e) => e.envelopeId),
          rows.map((r) => r.envelopeId),
        );
      }
      assert.equal(await store.accounts.usedBytes(address), 200 * 64);
    });

    it("the same id twice in one batch: one stored, one duplicate", async () => {
      const store = getStore();
      const address = await makeAccount(store, { devices: ["d1"] });
      const row = envelope(address, ["d1"]);
      const results = await Promise.all([
        store.mailbox.ingest(row),
        store.mailbox.ingest({ ...row }),
        store.mailbox.ingest(envelope(address, ["d1"])),
      ]);
      assert.equal(results[0]?.status, "stored");
      assert.deepEqual(results[1], { status: "duplicate" });
      assert.equal(results[2]?.status, "stored");
      assert.equal((await store.mailbox.pending(address, "d1", 0, 10)).length, 2);
    });

    it("a failing batch rejects every caller and writes nothing", async () => {
      const store = getStore();
      const address = await makeAccount(store, { devices: ["d1"] });
      const good1 = envelope(address, ["d1"]);
      const good2 = envelope(address, ["d1"]);
      // inner NOT NULL: the database refuses the row inside the batch's transaction.
      const bad = envelope(address, ["d1"], { inner: null as unknown as Buffer });
      const results = await Promise.allSettled([
        store.mailbox.ingest(good1),
        store.mailbox.ingest(bad),
        store.mailbox.ingest(good2),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ["rejected", "rejected", "rejected"],
      );
      assert.deepEqual(await store.mailbox.pending(address, "d1", 0, 10), []);
      assert.equal(await store.accounts.usedBytes(address), 0);
      // The ids were not remembered either: nothing of the batch was written.
      stored(await store.mailbox.ingest(good1));
      stored(await store.mailbox.ingest(good2));
    });

    it("a caller error (unknown recipient, no devices) rejects that caller only", async () => {
      const store = getStore();
      const address = await makeAccount(store, { devices: ["d1"] });
      const good = envelope(address, ["d1"]);
      const results = await Promise.allSettled([
        store.mailbox.ingest(envelope(newAddress(), ["d1"])),
        store.mailbox.ingest(good),
        store.mailbox.ingest(envelope(address, [])),
      ]);
      assert.deepEqual(
        results.map((r) => r.status),
        ["rejected", "fulfilled", "rejected"],
      );
      assert.equal((await store.mailbox.pending(address, "d1", 0, 10))[0]?.envelopeId, good.envelopeId);
    });

    it("over quota: 'over_quota' and nothing written, also within one batch", async () => {
      const store = getStore();
      const address = await makeAccount(store, { devices: ["d1"], quotaBytes: 100 });
      const first = envelope(address, ["d1"], { inner: randomBytes(60) });
      stored(await store.mailbox.ingest(first));
      const tooMuch = envelope(address, ["d1"], { inner: randomBytes(41) });
      assert.deepEqual(await store.mailbox.ingest(tooMuch), { status: "over_quota" });
      stored(await store.mailbox.ingest(envelope(address, ["d1"], { inner: randomBytes(40) })));
      assert.equal(await store.accounts.usedBytes(address), 100);
      assert.equal((await store.mailbox.pending(address, "d1", 0, 10)).length, 2);

      // Acknowledging frees space; the refused id was not remembered.
      const pending = await store.mailbox.pending(address, "d1", 0, 10);
      await store.mailbox.ack(
        address,
        "d1",
        pending.map((e) => e.envelopeId),
      );
      stored(await store.mailbox.ingest(tooMuch));

      const batch = await Promise.all([
        store.mailbox.ingest(envelope(address, ["d1"], { inner: randomBytes(50) })),
        store.mailbox.ingest(envelope(address, ["d1"], { inner: randomBytes(10) })),
        store.mailbox.ingest(envelope(address, ["d1"], { inner: randomBytes(9) })),
      ]);
      assert.deepEqual(
        batch.map((r) => r.status),
        ["stored", "over_quota", "stored"],
      );
      // 41 + 50 + 9: the 10 was refused for the 50 stored earlier in the same batch.
      assert.equal(await store.accounts.usedBytes(address), 100);
    });

    it("expire deletes envelopes and deliveries past expiry", async () => {
      const store = getStore();
      const address = await makeAccount(store, { devices: ["d1", "d2"] });
      const early = envelope(address, ["d1", "d2"], { expiresAt: 10_000, receivedAt: 1 });
      const late = envelope(address, ["d1", "d2"], { expiresAt: 20_000, receivedAt: 1 });
      stored(await store.mailbox.ingest(early));
      stored(await store.mailbox.ingest(late));
      const depth = await store.mailbox.depth();
      assert.equal(await store.mailbox.expire(15_000), 1);
      assert.equal(await store.mailbox.depth(), depth - 1);
      assert.deepEqual(
        (await store.mailbox.pending(address, "d2", 0, 10)).map((e) => e.envelopeId),
        [late.envelopeId],
      );
      assert.equal(await store.mailbox.expire(15_000), 0);
      assert.equal(await store.mailbox.expire(20_000), 1);
      assert.deepEqual(await store.mailbox.pending(address, "d1", 0, 10), []);
      assert.equal(await store.accounts.usedBytes(address), 0);
      // The deliveries went with their envelopes (ON DELETE CASCADE, foreign keys on).
      const raw = rawKnex(ctx.config());
      try {
        const left = await raw("deliveries").where("address", address).count({ n: "*" }).first();
        assert.equal(Number(left?.n), 0);
      } finally {
        await raw.destroy();
      }
    });
  });

  describe("server keys", () => {
    it("put, replace by key id, list, delete", async () => {
      const store = getStore();
      const identity = {
        kind: "identity" as const,
        keyId: "identity",
        secret: "c2VjcmV0",
        certJson: null,
        notBefore: 0,
        notAfter: 9_999_999_999_999,
      };
      const envelopeKey = {
        kind: "envelope" as const,
        keyId: "0011223344556677",
        secret: "ZW52",
        certJson: '{"cert":1}',
        notBefore: 1_000,
        notAfter: 2_000,
      };
      await store.serverKeys.put(identity);
      await store.serverKeys.put(envelopeKey);
      assert.deepEqual(await store.serverKeys.all(), [identity, envelopeKey]);
      const recertified = { ...envelopeKey, certJson: '{"cert":2}', notAfter: 3_000 };
      await store.serverKeys.put(recertified);
      assert.deepEqual(await store.serverKeys.all(), [identity, recertified]);
      await store.serverKeys.delete(envelopeKey.keyId);
      assert.deepEqual(await store.serverKeys.all(), [identity]);
    });
  });

  describe("tokens", () => {
    it("put / get / expired / deleteForDevice / expire", async () => {
      const store = getStore();
      const address = newAddress();
      const t1 = { tokenHash: randomBytes(32).toString("hex"), address, device: "d1", expiresAt: 1_000_000 };
      const t2 = { tokenHash: randomBytes(32).toString("hex"), address, device: "d2", expiresAt: 1_000_000 };
      const t3 = { tokenHash: randomBytes(32).toString("hex"), address, device: "d1", expiresAt: 500 };
      for (const t of [t1, t2, t3]) await store.tokens.put(t);
      assert.deepEqual(await store.tokens.get(t1.tokenHash, 999_999), t1);
      assert.equal(await store.tokens.get(t1.tokenHash, 1_000_000), undefined);
      assert.equal(await store.tokens.get(t3.tokenHash, 600), undefined);
      assert.equal(await store.tokens.get("00".repeat(32), 0), undefined);

      assert.equal(await store.tokens.expire(600), 1);
      await store.tokens.deleteForDevice(address, "d1");
      assert.equal(await store.tokens.get(t1.tokenHash, 0), undefined);
      assert.deepEqual(await store.tokens.get(t2.tokenHash, 0), t2);
    });
  });

  describe("blobs", () => {
    it("put is idempotent; collectable respects expiry and post references", async () => {
      const store = getStore();
      const owner = newAddress();
      const blob = (id: string, expiresAt: number | null) => ({
        id,
        owner,
        size: 1234,
        createdAt: 10,
        expiresAt,
      });
      const ids = { expired: newId(), pinned: newId(), permanent: newId(), fresh: newId() };
      const expired = blob(ids.expired, 100);
      assert.equal(await store.blobs.put(expired), "created");
      assert.equal(await store.blobs.put({ ...expired, size: 1 }), "exists");
      assert.deepEqual(await store.blobs.get(ids.expired), expired);
      assert.equal(await store.blobs.usedBytes(owner), 1234);
      assert.equal(await store.blobs.usedBytes(newAddress()), 0);
      assert.equal(await store.blobs.get(newId()), undefined);
      await store.blobs.put(blob(ids.pinned, 100));
      await store.blobs.put(blob(ids.permanent, null));
      await store.blobs.put(blob(ids.fresh, 10_000));
      const post = await store.feed.add({
        author: owner,
        postId: newId(),
        bodyJson: "{}",
        isPublic: false,
        createdAt: 50,
        blobIds: [ids.pinned],
      });
      const mine = new Set(Object.values(ids));
      const collectable = async (now: number): Promise<string[]> =>
        (await store.blobs.collectable(now, 1000)).map((b) => b.id).filter((id) => mine.has(id));

      assert.deepEqual(await collectable(99), []);
      assert.deepEqual(await collectable(200), [ids.expired]);
      assert.equal(post.status, "stored");
      const postId = (await store.feed.list(owner, 0, 10, false))[0]?.postId ?? "";
      assert.equal(await store.feed.delete(owner, postId), true);
      assert.deepEqual((await collectable(200)).sort(), [ids.expired, ids.pinned].sort());
      assert.deepEqual((await collectable(20_000)).sort(), [ids.expired, ids.pinned, ids.fresh].sort());
      assert.equal((await store.blobs.collectable(20_000, 1)).length, 1);

      for (const id of Object.values(ids)) await store.blobs.delete(id);
      assert.deepEqual(await collectable(20_000), []);
      assert.equal(await store.blobs.get(ids.expired), undefined);
    });
  });

  describe("feed", () => {
    it("add / duplicate / list with cursor and publicOnly / delete", async () => {
      const store = getStore();
      const author = newAddress();
      const add = (postId: string, isPublic: boolean, blobIds: string[] = []) =>
        store.feed.add({ author, postId, bodyJson: `{"p":"${postId}"}`, isPublic, createdAt: 7, blobIds });
      const s1 = stored(await add("p1", true, ["b2", "b1"]));
      const s2 = stored(await add("p2", false));
      const s3 = stored(await add("p3", true, ["b3"]));
      assert.deepEqual(await add("p1", false), { status: "duplicate" });
      assert.ok(s1 < s2 && s2 < s3);
      // Another author may use the same post id.
      stored(
        await store.feed.add({
          author: newAddress(),
          postId: "p1",
          bodyJson: "{}",
          isPublic: true,
          createdAt: 1,
          blobIds: [],
        }),
      );

      const all = await store.feed.list(author, 0, 10, false);
      assert.deepEqual(all, [
        {
          seq: s1,
          author,
          postId: "p1",
          bodyJson: '{"p":"p1"}',
          isPublic: true,
          createdAt: 7,
          blobIds: ["b2", "b1"],
        },
        { seq: s2, author, postId: "p2", bodyJson: '{"p":"p2"}', isPublic: false, createdAt: 7, blobIds: [] },
        {
          seq: s3,
          author,
          postId: "p3",
          bodyJson: '{"p":"p3"}',
          isPublic: true,
          createdAt: 7,
          blobIds: ["b3"],
        },
      ]);
      assert.deepEqual(
        (await store.feed.list(author, 0, 10, true)).map((p) => p.postId),
        ["p1", "p3"],
      );
      assert.deepEqual(
        (await store.feed.list(author, s1, 1, false)).map((p) => p.postId),
        ["p2"],
      );
      assert.equal(await store.feed.delete(author, "p2"), true);
      assert.equal(await store.feed.delete(author, "p2"), false);
      assert.deepEqual(
        (await store.feed.list(author, 0, 10, false)).map((p) => p.postId),
        ["p1", "p3"],
      );
    });
  });

  describe("durability", () => {
    it("data survive closing and reopening the store", async () => {
      const address = await makeAccount(getStore(), { devices: ["d1"] });
      const row = envelope(address, ["d1"]);
      const seq = stored(await getStore().mailbox.ingest(row));
      const store = await ctx.reopen();
      assert.equal((await store.accounts.get(address))?.address, address);
      const pending = await store.mailbox.pending(address, "d1", 0, 10);
      assert.deepEqual(
        pending.map((e) => [e.seq, e.envelopeId, e.inner.toString("hex")]),
        [[seq, row.envelopeId, row.inner.toString("hex")]],
      );
      assert.deepEqual(await store.mailbox.ingest(row), { status: "duplicate" });
      // Seqs keep increasing across a restart, even after the newest envelope was deleted.
      await store.mailbox.ack(address, "d1", [row.envelopeId]);
      const reopened = await ctx.reopen();
      assert.ok(stored(await reopened.mailbox.ingest(envelope(address, ["d1"]))) > seq);
    });
  });
});

describe("GroupCommit", () => {
  /** A writer that records its batches and finishes each when told to. */
  function controlledWriter() {
    const batches: number[][] = [];
    const gates: (() => void)[] = [];
    const write = async (items: readonly number[]): Promise<ItemOutcome<number>[]> => {
      batches.push([...items]);
      await new Promise<void>((resolve) => gates.push(resolve));
      return items.map((n) =>
        n < 0 ? { ok: false, error: new Error(`bad ${n}`) } : { ok: true, value: n * 10 },
      );
    };
    /** Waits until a batch is being written, then lets it finish. */
    const release = async (): Promise<void> => {
      while (gates.length === 0) await new Promise((r) => setImmediate(r));
      gates.shift()?.();
    };
    const started = async (n: number): Promise<void> => {
      while (batches.length < n) await new Promise((r) => setImmediate(r));
    };
    return { batches, write, release, started };
  }

  it("calls of one tick form one batch; calls during a write form the next", async () => {
    const w = controlledWriter();
    const gc = new GroupCommit(w.write);
    const first = [gc.submit(1), gc.submit(2)];
    await w.started(1);
    const second = [gc.submit(3), gc.submit(4), gc.submit(5)];
    await w.release();
    await w.release();
    assert.deepEqual(await Promise.all([...first, ...second]), [10, 20, 30, 40, 50]);
    assert.deepEqual(w.batches, [
      [1, 2],
      [3, 4, 5],
    ]);
    await gc.idle();
  });

  it("a failing write rejects every caller of that batch only; an item error rejects its caller only", async () => {
    let calls = 0;
    const gc = new GroupCommit<number, number>(async (items) => {
      calls++;
      if (items.includes(13)) throw new Error("transaction failed");
      return items.map((n) => (n < 0 ? { ok: false, error: new Error("bad") } : { ok: true, value: n }));
    });
    const failing = await Promise.allSettled([gc.submit(1), gc.submit(13), gc.submit(2)]);
    assert.deepEqual(
      failing.map((r) => r.status),
      ["rejected", "rejected", "rejected"],
    );
    const mixed = await Promise.allSettled([gc.submit(1), gc.submit(-1), gc.submit(2)]);
    assert.deepEqual(
      mixed.map((r) => r.status),
      ["fulfilled", "rejected", "fulfilled"],
    );
    assert.equal(calls, 2);
  });

  it("maxBatch bounds a batch; idle() waits for the queue to drain", async () => {
    const sizes: number[] = [];
    const gc = new GroupCommit<number, number>(async (items) => {
      sizes.push(items.length);
      await new Promise((r) => setTimeout(r, 5));
      return items.map((n) => ({ ok: true, value: n }));
    }, 4);
    const all = Array.from({ length: 10 }, (_, i) => gc.submit(i));
    await gc.idle();
    assert.deepEqual(sizes, [4, 4, 2]);
    assert.deepEqual(await Promise.all(all), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});
