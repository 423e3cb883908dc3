// The encrypting side's room state cache is bounded: one entry per room ever asked about would grow
// with the ghosts (every portal is asked about once encryption is allowed). Beyond the bound the least
// recently used room is read again; a failed read forgets only itself.
import assert from "node:assert/strict";
import { RoomStateCache } from "../../src/bridge/adapters/crypto/room-state.js";
import type { MatrixRequests } from "../../src/bridge/adapters/crypto/matrix-requests.js";

const ENCRYPTION = {
  type: "m.room.encryption",
  state_key: "",
  content: { algorithm: "m.megolm.v1.aes-sha2" },
};

/** Answers GET /state with the room encrypted; counts reads per room; `fail` makes the next read of a room fail. */
class FakeHomeserver implements MatrixRequests {
  readonly reads = new Map<string, number>();
  readonly fail = new Set<string>();
  async request(): Promise<Record<string, unknown>> {
    throw new Error("not used");
  }
  async requestJson(_method: string, path: string): Promise<unknown> {
    const roomId = decodeURIComponent(/\/rooms\/([^/]+)\/state$/.exec(path)![1]!);
    this.reads.set(roomId, (this.reads.get(roomId) ?? 0) + 1);
    if (this.fail.delete(roomId)) throw new Error("homeserver down");
    return [ENCRYPTION];
  }
}

describe("bridge room state cache", function () {
  it("keeps at most its bound of rooms, reading the least recently used one again", async function () {
    const hs = new FakeHomeserver();
    const cache = new RoomStateCache(hs, 2);
    await cache.get("!a:hs", "@g:hs");
    await cache.get("!b:hs", "@g:hs");
    await cache.get("!a:hs", "@g:hs"); // !a used last: !b is the least recently used
    await cache.get("!c:hs", "@g:hs");
    assert.equal(cache.size, 2);
    assert.equal((await cache.get("!a:hs", "@g:hs")).encryption?.algorithm, "m.megolm.v1.aes-sha2");
    assert.deepEqual(Object.fromEntries(hs.reads), { "!a:hs": 1, "!b:hs": 1, "!c:hs": 1 });
    await cache.get("!b:hs", "@g:hs");
    assert.equal(hs.reads.get("!b:hs"), 2, "evicted, so read again");
  });

  it("forgets a failed read, and a late failure does not drop the read made after an invalidation", async function () {
    const hs = new FakeHomeserver();
    const cache = new RoomStateCache(hs, 8);
    hs.fail.add("!a:hs");
    await assert.rejects(cache.get("!a:hs", "@g:hs"), /homeserver down/);
    await cache.get("!a:hs", "@g:hs");
    assert.equal(hs.reads.get("!a:hs"), 2);
    await cache.get("!a:hs", "@g:hs");
    assert.equal(hs.reads.get("!a:hs"), 2, "cached");

    // A read in flight is invalidated (a state event arrived), a new one made, then the first fails.
    const rejects: ((e: Error) => void)[] = [];
    const slow: MatrixRequests = {
      request: () => Promise.reject(new Error("not used")),
      requestJson: () => new Promise((_, reject) => rejects.push(reject)),
    };
    const racing = new RoomStateCache(slow, 8);
    const first = racing.get("!r:hs", "@g:hs");
    racing.invalidate("!r:hs");
    const second = racing.get("!r:hs", "@g:hs");
    void second.catch(() => undefined);
    rejects[0]!(new Error("first failed"));
    await assert.rejects(first, /first failed/);
    assert.equal(racing.size, 1, "the read made after the invalidation stays");
    assert.equal(racing.get("!r:hs", "@g:hs"), second);
  });
});
