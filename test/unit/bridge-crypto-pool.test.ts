// The parts that keep crypto machines bounded, without wasm or a homeserver:
// the machine pool (LRU, reference counts, the hard bound, idle sweep, close)
// and the per-record diff of a machine's IndexedDB contents (what a save
// writes), with property tests for the diff and its restore; and the
// devices' catch-up after a start, which must not hold the start.
import assert from "node:assert/strict";
import fc from "fast-check";
import { MachinePool } from "../../src/bridge/adapters/crypto/machine-pool.js";
import { RecordTracker, type RecordRow } from "../../src/bridge/adapters/crypto/idb-records.js";
import type { DatabaseSnapshot } from "../../src/bridge/adapters/crypto/idb-snapshot.js";
import { openSnapshot, sealSnapshot } from "../../src/bridge/adapters/crypto/sealed-snapshot.js";
import { isBridgeError } from "../../src/bridge/core/error-kinds.js";
import { EndToBridge } from "../../src/bridge/adapters/crypto/end-to-bridge.js";
import { CryptoStoreKey } from "../../src/bridge/adapters/crypto/crypto-store-key.js";
import { createBridgeLogger } from "../../src/bridge/logger.js";
import type { CryptoStore } from "../../src/bridge/core/ports/store.js";
import type { MatrixRequests } from "../../src/bridge/adapters/crypto/matrix-requests.js";

class Fake {
  closed = false;
  constructor(readonly key: string) {}
  async close(): Promise<void> {
    this.closed = true;
  }
}

function pool(max: number, idleMs = 0, clock = { t: 0 }) {
  const loads: string[] = [];
  const made: Fake[] = [];
  const p = new MachinePool<Fake>({
    max,
    idleMs,
    now: () => clock.t,
    load: async (key) => {
      loads.push(key);
      const f = new Fake(key);
      made.push(f);
      return f;
    },
  });
  return { p, loads, made, clock };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("bridge crypto: machine pool", () => {
  it("loads once, reuses, and evicts the least recently used past the bound", async () => {
    const { p, loads, made } = pool(2);
    await p.use("a", async () => undefined);
    await p.use("b", async () => undefined);
    await p.use("a", async () => undefined);
    await p.use("c", async () => undefined); // b is the least recently used
    assert.deepEqual(loads, ["a", "b", "c"]);
    assert.deepEqual(p.keys().sort(), ["a", "c"]);
    assert.equal(made.find((f) => f.key === "b")?.closed, true);
    assert.equal(p.size, 2);
    await p.use("b", async () => undefined); // loaded again
    assert.deepEqual(loads, ["a", "b", "c", "b"]);
  });

  it("never closes an entry while it is in use, and waits for room when all are in use", async () => {
    const { p, made } = pool(1);
    const hold = deferred();
    let inside = false;
    const first = p.use("a", async (a) => {
      inside = true;
      await hold.promise;
      assert.equal(a.closed, false, "not closed while in use");
    });
    await eventuallyTrue(() => inside);
    let secondRan = false;
    const second = p.use("b", async () => {
      secondRan = true;
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(secondRan, false, "waits: the only slot is in use");
    assert.equal(p.size, 1);
    hold.resolve();
    await first;
    await second;
    assert.equal(secondRan, true);
    assert.equal(made[0]?.closed, true);
    assert.equal(p.size, 1);
  });

  it("shares one load between concurrent users of a key", async () => {
    const { p, loads } = pool(4);
    await Promise.all([1, 2, 3].map(() => p.use("a", async () => undefined)));
    assert.deepEqual(loads, ["a"]);
  });

  it("a failed load leaves nothing behind and can be tried again", async () => {
    let fail = true;
    const p = new MachinePool<Fake>({
      max: 1,
      idleMs: 0,
      load: async (key) => {
        if (fail) throw new Error("boom");
        return new Fake(key);
      },
    });
    await assert.rejects(
      p.use("a", async () => undefined),
      /boom/,
    );
    assert.equal(p.size, 0);
    fail = false;
    await p.use("a", async () => undefined);
    assert.equal(p.size, 1);
  });

  it("sweeps entries idle longer than idleMs, not those in use", async () => {
    const { p, made, clock } = pool(4, 1000);
    await p.use("a", async () => undefined);
    clock.t = 500;
    const hold = deferred();
    const running = p.use("b", async () => hold.promise);
    await eventuallyTrue(() => p.size === 2);
    clock.t = 1200;
    assert.equal(await p.sweep(), 1);
    assert.deepEqual(p.keys(), ["b"]);
    assert.equal(made[0]?.closed, true);
    hold.resolve();
    await running;
  });

  it("close waits for running uses, closes everything and refuses new ones", async () => {
    const { p, made } = pool(2);
    const hold = deferred();
    const running = p.use("a", async () => hold.promise);
    await eventuallyTrue(() => p.size === 1);
    const closing = p.close(5_000);
    setTimeout(() => hold.resolve(), 30);
    await closing;
    await running;
    assert.equal(made[0]?.closed, true);
    await assert.rejects(
      p.use("a", async () => undefined),
      /closed/,
    );
  });

  it("property: the bound holds under any interleaving of uses", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "d", "e"), fc.nat(3)), { maxLength: 30 }),
        async (max, ops) => {
          const { p } = pool(max);
          let most = 0;
          await Promise.all(
            ops.map(([key, ticks]) =>
              p.use(key, async (f) => {
                most = Math.max(most, p.size);
                assert.equal(f.closed, false);
                for (let i = 0; i < ticks; i++) await new Promise((r) => setImmediate(r));
              }),
            ),
          );
          assert.ok(most <= max, `${most} > ${max}`);
          await p.close();
        },
      ),
      { numRuns: 100 },
    );
  });
});

async function eventuallyTrue(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(check());
}

const KEY = Buffer.alloc(32, 7);
const sealer = (user = "@u:hs") => ({
  seal: (rkey: string, plain: Buffer) => sealSnapshot(KEY, user, "DEV", plain, rkey),
  open: (rkey: string, sealed: Buffer) => openSnapshot(KEY, user, "DEV", sealed, rkey),
});

function dbWith(records: [string, unknown][], name = "x::matrix-sdk-crypto"): DatabaseSnapshot {
  return {
    name,
    version: 3,
    stores: [
      { name: "core", autoIncrement: false, indexes: [], records: records.map(([k, v]) => [k, v]) },
      {
        name: "sessions",
        autoIncrement: false,
        indexes: [{ name: "by_sender", keyPath: "sender", unique: false, multiEntry: false }],
        records: [],
      },
    ],
  };
}

describe("bridge crypto: per-record saves", () => {
  it("writes every row first, nothing when nothing changed, and only what changed after", () => {
    const t = new RecordTracker(KEY, sealer());
    const first = t.diff([
      dbWith([
        ["a", { v: 1 }],
        ["b", "two"],
      ]),
    ]);
    assert.equal(first.put.length, 3, "the schema row and two records");
    assert.deepEqual(first.del, []);
    t.commit(first);
    const same = t.diff([
      dbWith([
        ["a", { v: 1 }],
        ["b", "two"],
      ]),
    ]);
    assert.deepEqual([same.put.length, same.del.length], [0, 0]);
    const changed = t.diff([
      dbWith([
        ["a", { v: 2 }],
        ["c", new Uint8Array([1, 2])],
      ]),
    ]);
    assert.equal(changed.put.length, 2, "a changed, c new");
    assert.equal(changed.del.length, 1, "b gone");
    // Not committed (the write failed): the next diff still has them.
    assert.equal(
      t.diff([
        dbWith([
          ["a", { v: 2 }],
          ["c", new Uint8Array([1, 2])],
        ]),
      ]).put.length,
      2,
    );
  });

  it("rows are sealed, bound to their row key and identity, and show no record key", () => {
    const t = new RecordTracker(KEY, sealer());
    const d = t.diff([dbWith([["secret-record-key", "secret-value"]])]);
    for (const r of d.put) {
      assert.ok(!r.sealed.includes(Buffer.from("secret")), "sealed");
      assert.ok(!r.rkey.includes("secret"), "the row key is opaque");
    }
    const [a, b] = d.put as [RecordRow, RecordRow];
    // A row moved under another row key, or read as another identity, does not open.
    const swapped = new RecordTracker(KEY, sealer());
    assert.throws(
      () => swapped.restore([{ rkey: a.rkey, sealed: b.sealed }]),
      (e: unknown) => isBridgeError(e, "snapshot_unreadable"),
    );
    const other = new RecordTracker(KEY, sealer("@v:hs"));
    assert.throws(
      () => other.restore([a]),
      (e: unknown) => isBridgeError(e, "snapshot_unreadable"),
    );
  });

  it("property: restore gives back the databases, and a rebased tracker sees no change", () => {
    const value = fc.oneof(
      fc.string({ maxLength: 8 }),
      fc.integer(),
      fc.uint8Array({ maxLength: 8 }),
      fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 3, noNullPrototype: true }),
    );
    const key = fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.integer(),
      fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 }),
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(key, value), { selector: ([k]) => JSON.stringify(k), maxLength: 12 }),
        (records) => {
          const dbs = [dbWith(records as [string, unknown][])];
          const t = new RecordTracker(KEY, sealer());
          const d = t.diff(dbs);
          t.commit(d);
          const fresh = new RecordTracker(KEY, sealer());
          const back = fresh.restore(d.put);
          const sort = (db: DatabaseSnapshot[]) =>
            db.map((x) => ({
              ...x,
              stores: x.stores.map((s) => ({
                ...s,
                records: [...s.records].sort((p, q) =>
                  JSON.stringify(p[0]).localeCompare(JSON.stringify(q[0])),
                ),
              })),
            }));
          assert.deepEqual(sort(back), sort(dbs));
          // As the identity does: the restored databases read back are what is stored.
          fresh.rebase(back);
          const again = fresh.diff(back);
          assert.deepEqual([again.put.length, again.del.length], [0, 0]);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("bridge crypto: catch-up after a start runs in the background", () => {
  it("connected() returns while the devices' catch-up still runs, a few at a time", async () => {
    const e2b = new EndToBridge({
      config: {
        allow: true,
        default: false,
        require: false,
        pickle_key: "generate",
        max_machines: 4,
        idle_seconds: 0,
      },
      store: { allPending: async () => [] } as unknown as CryptoStore,
      key: CryptoStoreKey.fromBytes(Buffer.alloc(32, 1)),
      http: { request: async () => ({}), requestJson: async () => ({}) } as unknown as MatrixRequests,
      log: createBridgeLogger("silent"),
      botUserId: "@bot:hs",
      deviceDisplayName: "test",
      concurrency: 2,
    });
    const users = ["@bot:hs", "@a:hs", "@b:hs", "@c:hs", "@d:hs"];
    const release = deferred();
    const running = new Set<string>();
    let most = 0;
    const caught: string[] = [];
    // The machines stand in: each catch-up blocks until released (a slow homeserver).
    Object.assign(e2b.manager, {
      ensure: async () => undefined,
      users: () => users,
      with: async (user: string) => {
        running.add(user);
        most = Math.max(most, running.size);
        await release.promise;
        running.delete(user);
        caught.push(user);
        return 0;
      },
    });
    await e2b.connected();
    await eventuallyTrue(() => running.size === 2);
    assert.deepEqual(caught, [], "connected() did not wait for the catch-up");
    let done = false;
    void e2b.caughtUp().then(() => (done = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false);
    release.resolve();
    await e2b.caughtUp();
    assert.deepEqual(
      caught.sort(),
      ["@a:hs", "@b:hs", "@c:hs", "@d:hs"],
      "the bot cannot /sync: not caught up",
    );
    assert.equal(most, 2, "bridge.startup_concurrency at a time");
  });
});
