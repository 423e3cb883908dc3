// Lazy accounts (adapters/accounts/account-pool.ts): opened once on demand, closed when idle or
// past the bound, never while held or busy; a fake clock and fake accounts.
import assert from "node:assert/strict";
import { AccountPool } from "../../src/bridge/adapters/accounts/account-pool.js";

interface Fake {
  key: string;
  closed: boolean;
  busy: boolean;
}

function world(o: { idleMs?: number; maxOpen?: number } = {}) {
  let now = 1_000;
  const opens: string[] = [];
  const closes: string[] = [];
  const afterClose: string[] = [];
  let openGate: Promise<void> | undefined;
  let busyHook: (() => void) | undefined;
  const pool = new AccountPool<Fake>({
    idleMs: o.idleMs ?? 60_000,
    maxOpen: o.maxOpen ?? 100,
    now: () => now,
    open: async (key) => {
      opens.push(key);
      await openGate;
      return { key, closed: false, busy: false };
    },
    close: async (key, value) => {
      await Promise.resolve();
      value.closed = true;
      closes.push(key);
    },
    busy: async (value) => {
      await Promise.resolve();
      busyHook?.();
      return value.busy;
    },
    closed: (key) => afterClose.push(key),
  });
  return {
    pool,
    opens,
    closes,
    afterClose,
    advance: (ms: number) => (now += ms),
    gate: (p: Promise<void> | undefined) => (openGate = p),
    onBusy: (f: (() => void) | undefined) => (busyHook = f),
  };
}

describe("bridge account pool (lazy accounts)", () => {
  it("opens an account once however many ask at the same time", async () => {
    const w = world();
    let open!: () => void;
    w.gate(new Promise<void>((r) => (open = r)));
    const asks = [w.pool.get("a"), w.pool.get("a"), w.pool.get("a")];
    assert.equal(w.pool.isOpen("a"), false);
    open();
    const got = await Promise.all(asks);
    assert.deepEqual(w.opens, ["a"]);
    assert.ok(got.every((g) => g === got[0]));
    assert.equal(w.pool.isOpen("a"), true);
  });

  it("closes an account idle for idleMs, not before, and opens it again on the next use", async () => {
    const w = world({ idleMs: 60_000 });
    const first = await w.pool.get("a");
    w.advance(59_999);
    assert.equal(await w.pool.sweep(), 0);
    w.advance(1);
    assert.equal(await w.pool.sweep(), 1);
    assert.equal(first.closed, true);
    assert.deepEqual(w.afterClose, ["a"]);
    assert.equal(w.pool.isOpen("a"), false);
    const second = await w.pool.get("a");
    assert.notEqual(second, first);
    assert.deepEqual(w.opens, ["a", "a"]);
  });

  it("a use restarts the idle time", async () => {
    const w = world({ idleMs: 60_000 });
    await w.pool.get("a");
    w.advance(50_000);
    assert.ok(w.pool.peek("a"));
    w.advance(50_000);
    assert.equal(await w.pool.sweep(), 0);
    w.advance(10_000);
    assert.equal(await w.pool.sweep(), 1);
  });

  it("never closes a held account, however long it is held, and closes it once released and idle", async () => {
    const w = world({ idleMs: 1_000, maxOpen: 0 });
    await w.pool.get("a");
    const release = w.pool.hold("a")!;
    w.advance(3_600_000);
    assert.equal(await w.pool.sweep(), 0);
    assert.equal(w.pool.isOpen("a"), true);
    release();
    release(); // a second release changes nothing
    w.advance(1_000);
    assert.equal(await w.pool.sweep(), 1);
  });

  it("a lease holds the account for the whole of its work", async () => {
    const w = world({ idleMs: 1_000 });
    let finish!: () => void;
    const work = w.pool.lease("a", async (v) => {
      await new Promise<void>((r) => (finish = r));
      return v.closed;
    });
    await new Promise((r) => setImmediate(r));
    w.advance(10_000);
    assert.equal(await w.pool.sweep(), 0);
    finish();
    assert.equal(await work, false, "the account was open all through the work");
    w.advance(1_000);
    assert.equal(await w.pool.sweep(), 1);
  });

  it("a busy account (outbox, call) stays open", async () => {
    const w = world({ idleMs: 1_000 });
    const a = await w.pool.get("a");
    a.busy = true;
    w.advance(5_000);
    assert.equal(await w.pool.sweep(), 0);
    a.busy = false;
    assert.equal(await w.pool.sweep(), 1);
  });

  it("an account used while its close was being decided stays open", async () => {
    const w = world({ idleMs: 1_000 });
    await w.pool.get("a");
    w.advance(5_000);
    w.onBusy(() => void w.pool.peek("a"));
    assert.equal(await w.pool.sweep(), 0);
    assert.equal(w.pool.isOpen("a"), true);
  });

  it("past maxOpen, the least recently used idle accounts close first", async () => {
    const w = world({ idleMs: 3_600_000, maxOpen: 2 });
    for (const k of ["a", "b", "c", "d"]) {
      await w.pool.get(k);
      w.advance(10);
    }
    w.pool.peek("a");
    const release = w.pool.hold("b")!;
    assert.equal(await w.pool.sweep(), 2);
    assert.deepEqual(w.closes, ["c", "d"]);
    assert.equal(w.pool.size, 2);
    assert.equal(w.pool.isOpen("a"), true);
    assert.equal(w.pool.isOpen("b"), true);
    release();
  });

  it("a get during a close waits for it and opens a fresh account", async () => {
    const w = world({ idleMs: 1_000 });
    const first = await w.pool.get("a");
    w.advance(1_000);
    const sweeping = w.pool.sweep();
    // Once the close has begun (the busy check is done, the close not yet).
    while (w.pool.isOpen("a")) await Promise.resolve();
    const again = w.pool.get("a");
    await sweeping;
    const second = await again;
    assert.equal(first.closed, true);
    assert.equal(second.closed, false);
    assert.deepEqual(w.opens, ["a", "a"]);
  });

  it("a failed open is forgotten: the next get tries again", async () => {
    let fail = true;
    const pool = new AccountPool<string>({
      idleMs: 1_000,
      maxOpen: 10,
      now: () => 0,
      open: (key) => (fail ? Promise.reject(new Error("no")) : Promise.resolve(key)),
      close: () => Promise.resolve(),
      busy: () => Promise.resolve(false),
    });
    await assert.rejects(pool.get("a"), /no/);
    assert.equal(pool.size, 0);
    fail = false;
    assert.equal(await pool.get("a"), "a");
  });

  it("closeAll closes every open account and refuses later gets", async () => {
    const w = world();
    const a = await w.pool.get("a");
    const b = await w.pool.get("b");
    await w.pool.closeAll();
    assert.ok(a.closed && b.closed);
    assert.deepEqual(w.afterClose, [], "no reopen after the bridge stops");
    await assert.rejects(w.pool.get("a"), /closing/);
  });
});
