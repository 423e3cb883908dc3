// The bridge store's read cache (src/bridge/adapters/store/read-cache.ts): a
// kept answer is served without the database, every write clears it, a read
// that overlapped a write is not kept, and callers get copies.
import assert from "node:assert/strict";
import { ReadCache } from "../../src/bridge/adapters/store/read-cache.js";

describe("bridge store read cache", function () {
  it("serves a kept answer, including 'none', without loading again", async function () {
    const cache = new ReadCache<{ n: number } | undefined>();
    let loads = 0;
    const load = async () => (++loads, undefined);
    assert.equal(await cache.get("a", load), undefined);
    assert.equal(await cache.get("a", load), undefined);
    assert.equal(loads, 1);
  });

  it("a write clears what was kept", async function () {
    const cache = new ReadCache<number>();
    let value = 1;
    assert.equal(await cache.get("a", async () => value), 1);
    await cache.write(async () => {
      value = 2;
    });
    assert.equal(await cache.get("a", async () => value), 2);
  });

  it("a read that overlapped a write is not kept", async function () {
    const cache = new ReadCache<number>();
    let value = 1;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // The read starts before the write and answers the old value after it.
    const slowRead = cache.get("a", async () => {
      const seen = value;
      await gate;
      return seen;
    });
    await cache.write(async () => {
      value = 2;
    });
    release();
    assert.equal(await slowRead, 1);
    assert.equal(await cache.get("a", async () => value), 2);
  });

  it("a read while a write runs is not kept", async function () {
    const cache = new ReadCache<number>();
    let value = 1;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const writing = cache.write(async () => {
      await gate;
      value = 2;
    });
    assert.equal(await cache.get("a", async () => value), 1);
    release();
    await writing;
    assert.equal(await cache.get("a", async () => value), 2);
  });

  it("a write that fails clears too", async function () {
    const cache = new ReadCache<number>();
    let value = 1;
    await cache.get("a", async () => value);
    await assert.rejects(
      cache.write(async () => {
        value = 3;
        throw new Error("rolled back");
      }),
    );
    assert.equal(await cache.get("a", async () => value), 3);
  });

  it("hands out copies: a caller changing one changes nothing kept", async function () {
    const cache = new ReadCache<{ members: string[] }>();
    const first = await cache.get("a", async () => ({ members: ["x"] }));
    first.members.push("y");
    const second = await cache.get("a", async () => ({ members: ["z"] }));
    assert.deepEqual(second, { members: ["x"] });
    second.members.push("w");
    assert.deepEqual(await cache.get("a", async () => ({ members: [] })), { members: ["x"] });
  });
});
