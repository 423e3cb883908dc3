// The creation limits' pure rule and texts (model/creation-limits.ts), and the
// limiter over an in-memory table: all or nothing, per sender, a sliding hour.
import assert from "node:assert/strict";
import {
  CREATION_WINDOW_MS,
  leftOutText,
  overLimit,
  overLimitText,
  type LeftOutReason,
} from "../../src/bridge/model/creation-limits.js";
import { CreationLimiter } from "../../src/bridge/portals/creation-limiter.js";
import { parseAddress, type PeopleAddress } from "../../src/people/protocol/address.js";
import { MemoryCreations, silentLog } from "../helpers/portal-fakes.js";

const JOE = parseAddress("joe@other.test");
const limits = { roomsPerHour: 2, ghostsPerHour: 5 };

describe("creation limits", function () {
  it("a want fits while the sums stay within the limits; nothing wanted always fits", function () {
    assert.equal(overLimit({ rooms: 1, ghosts: 3 }, { rooms: 1, ghosts: 2 }, limits), undefined);
    assert.equal(overLimit({ rooms: 2, ghosts: 0 }, { rooms: 1, ghosts: 0 }, limits), "rooms");
    assert.equal(overLimit({ rooms: 0, ghosts: 4 }, { rooms: 0, ghosts: 2 }, limits), "ghosts");
    assert.equal(overLimit({ rooms: 9, ghosts: 9 }, { rooms: 0, ghosts: 0 }, limits), undefined);
  });

  it("names the addresses left out by reason, at most ten of them", function () {
    const leftOut = new Map<PeopleAddress, LeftOutReason>([
      [parseAddress("a@x.test"), "unknown"],
      [parseAddress("b@y.test"), "unreachable"],
      [parseAddress("c@z.test"), "limit"],
    ]);
    assert.equal(
      leftOutText(JOE, leftOut, false),
      "joe@other.test also wrote this to a@x.test (no People account), b@y.test (their People server " +
        "cannot be reached), c@z.test (the bridge adds no more addresses for the sender this hour). " +
        "They are not in this conversation.",
    );
    const many = new Map(
      Array.from({ length: 25 }, (_, i) => [parseAddress(`u${i}@n.test`), "unknown" as const]),
    );
    const text = leftOutText(JOE, many, true);
    assert.match(
      text,
      /u9@n\.test and 15 more \(no People account\)\. Answers here go to joe@other\.test only\.$/,
    );
    assert.ok(!text.includes("u10@"));
    assert.match(
      overLimitText(JOE, [parseAddress("a@x.test")]),
      /no more group rooms for joe@other\.test this hour/,
    );
  });

  it("takes a budget whole or not at all, per sender, for a sliding hour", async function () {
    let now = 10 * CREATION_WINDOW_MS;
    const store = new MemoryCreations();
    const limiter = new CreationLimiter({ store, limits, log: silentLog, now: () => now });
    const ann = parseAddress("ann@other.test");
    assert.equal(await limiter.take(JOE, { rooms: 1, ghosts: 4 }), undefined);
    assert.equal(await limiter.take(JOE, { rooms: 1, ghosts: 2 }), "ghosts");
    assert.equal(await limiter.take(JOE, { rooms: 1, ghosts: 1 }), undefined);
    assert.equal(await limiter.take(JOE, { rooms: 1 }), "rooms");
    assert.equal(await limiter.take(ann, { rooms: 2, ghosts: 5 }), undefined);
    // Concurrent takes of one sender never pass the limit together.
    now += CREATION_WINDOW_MS + 1;
    const results = await Promise.all(Array.from({ length: 6 }, () => limiter.take(JOE, { rooms: 1 })));
    assert.equal(results.filter((r) => r === undefined).length, 2);
    assert.deepEqual(await store.usedSince(JOE, now - CREATION_WINDOW_MS), { rooms: 2, ghosts: 0 });
    // What is older than the window is pruned.
    assert.ok(store.rows.every((r) => r.at > now - CREATION_WINDOW_MS));
  });
});
