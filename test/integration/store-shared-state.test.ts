// The state several server processes of a domain share through the store
// (migration 006-shared-state): login challenges consumed once only, also by
// two stores racing on one database, and rate counters that lose no hit.
import assert from "node:assert/strict";
import { openStore } from "../../src/store/index.js";
import { forEachEngine } from "../helpers/stores.js";

forEachEngine("shared state", (getStore, ctx) => {
  const challenge = (n: number) => `challenge-${ctx.engine}-${n}-${"x".repeat(20)}`;

  it("hands a challenge out once, and not after it expired", async () => {
    const store = getStore();
    await store.challenges.put({ challenge: challenge(1), address: "a@x", device: "d1", expiresAt: 2000 });
    await store.challenges.put({ challenge: challenge(2), address: "a@x", device: "d1", expiresAt: 2000 });
    const got = await store.challenges.consume(challenge(1), 1000);
    assert.deepEqual(got, { challenge: challenge(1), address: "a@x", device: "d1", expiresAt: 2000 });
    assert.equal(await store.challenges.consume(challenge(1), 1000), undefined, "single use");
    assert.equal(await store.challenges.consume(challenge(2), 2001), undefined, "expired");
    assert.equal(await store.challenges.consume(challenge(2), 1000), undefined, "an expired one is gone too");
    assert.equal(await store.challenges.consume("never-issued", 1000), undefined);
  });

  it("expires old challenges and counts the rest", async () => {
    const store = getStore();
    const before = await store.challenges.count();
    await store.challenges.put({ challenge: challenge(3), address: "b@x", device: "d", expiresAt: 100 });
    await store.challenges.put({ challenge: challenge(4), address: "b@x", device: "d", expiresAt: 10_000 });
    assert.equal(await store.challenges.count(), before + 2);
    assert.ok((await store.challenges.expire(5000)) >= 1);
    assert.equal(await store.challenges.consume(challenge(3), 0), undefined);
    assert.ok(await store.challenges.consume(challenge(4), 5000));
  });

  it("gives each of many concurrent hits its own count", async () => {
    const store = getStore();
    const counts = await Promise.all(Array.from({ length: 50 }, () => store.rateCounts.hit("k1", 60_000)));
    assert.deepEqual(
      [...counts].sort((x, y) => x - y),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.equal(await store.rateCounts.hit("k1", 120_000), 1, "a new window starts at 1");
    assert.equal(await store.rateCounts.hit("k2", 60_000), 1, "keys are counted apart");
    assert.ok((await store.rateCounts.expire(120_000)) >= 2);
    assert.equal(await store.rateCounts.hit("k1", 60_000), 1, "an expired window is gone");
    assert.equal(await store.rateCounts.hit("k1", 120_000), 2, "the current one stays");
  });

  if (ctx.engine === "postgres") {
    it("two stores on one database: a challenge goes to one of them, hits add up", async () => {
      const other = await openStore(ctx.config());
      try {
        const store = getStore();
        for (let i = 0; i < 20; i++) {
          const c = challenge(100 + i);
          await store.challenges.put({ challenge: c, address: "c@x", device: "d", expiresAt: 10_000 });
          const got = await Promise.all([store.challenges.consume(c, 0), other.challenges.consume(c, 0)]);
          assert.equal(got.filter((g) => g !== undefined).length, 1, `challenge ${i} taken once`);
        }
        const counts = await Promise.all(
          Array.from({ length: 60 }, (_, i) => (i % 2 ? store : other).rateCounts.hit("shared", 180_000)),
        );
        assert.deepEqual(
          [...counts].sort((x, y) => x - y),
          Array.from({ length: 60 }, (_, i) => i + 1),
        );
      } finally {
        await other.close();
      }
    });
  }
});
