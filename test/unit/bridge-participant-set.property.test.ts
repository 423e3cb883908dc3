// The participant set of a People conversation and its key: order and
// repetition do not matter, different sets never share a key text, the
// membership difference is exact, and the routing rule decides as documented.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  conversationOf,
  groupRoomName,
  membershipChange,
  participantSet,
  routeMessage,
  sameSet,
  setKey,
  setText,
  type ParticipantSet,
} from "../../src/bridge/model/participant-set.js";
import { parseAddress, type PeopleAddress } from "../../src/people/protocol/address.js";

const RUNS = 300;

/** Canonical addresses from a small alphabet, so that sets overlap often. */
const addressArb = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9](?:[a-z0-9._-]{0,6}[a-z0-9])?$/),
    fc.constantFrom("a.test", "b.test", "people.test", "xn--bcher-kva.test"),
  )
  .filter(([local]) => !/[._-]{2}/.test(local))
  .map(([local, domain]) => parseAddress(`${local}@${domain}`));

const addressesArb = fc.array(addressArb, { minLength: 1, maxLength: 12 });

const set = (...xs: string[]): ParticipantSet => participantSet(xs.map((x) => parseAddress(x)));

describe("participant sets (property)", function () {
  it("the key ignores order and repetition", function () {
    fc.assert(
      fc.property(addressesArb, fc.array(fc.nat()), (addresses, seeds) => {
        // A permutation of the addresses with some of them repeated.
        const shuffled = [...addresses];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = (seeds[i % Math.max(seeds.length, 1)] ?? 0) % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        const repeated = [...shuffled, ...shuffled.slice(0, seeds.length % (shuffled.length + 1))];
        assert.equal(setKey(participantSet(repeated)), setKey(participantSet(addresses)));
        assert.equal(setText(participantSet(repeated)), setText(participantSet(addresses)));
      }),
      { numRuns: RUNS },
    );
  });

  it("is injective: two sets have the same key text (and key) exactly when they are equal", function () {
    fc.assert(
      fc.property(addressesArb, addressesArb, (a, b) => {
        const sa = participantSet(a);
        const sb = participantSet(b);
        const equal = new Set(a).size === new Set(b).size && a.every((x) => b.includes(x));
        assert.equal(sameSet(sa, sb), equal);
        assert.equal(setText(sa) === setText(sb), equal);
        assert.equal(setKey(sa) === setKey(sb), equal);
      }),
      { numRuns: RUNS },
    );
  });

  it("is sorted, without duplicates, and the text splits back into the set", function () {
    fc.assert(
      fc.property(addressesArb, (a) => {
        const s = participantSet(a);
        assert.deepEqual([...s], [...new Set(a)].sort());
        assert.deepEqual(setText(s).split("\n"), [...s]);
        assert.match(setKey(s), /^[0-9a-f]{64}$/);
      }),
      { numRuns: RUNS },
    );
  });

  it("a conversation is the sender and every recipient", function () {
    fc.assert(
      fc.property(addressArb, addressesArb, (from, to) => {
        const s = conversationOf(from, to);
        assert.ok(s.includes(from));
        for (const a of to) assert.ok(s.includes(a));
        assert.equal(s.length, new Set([from, ...to]).size);
      }),
      { numRuns: RUNS },
    );
  });

  it("the membership change turns the old set into the new one exactly", function () {
    fc.assert(
      fc.property(addressesArb, addressesArb, (a, b) => {
        const before = participantSet(a);
        const after = participantSet(b);
        const { added, removed } = membershipChange(before, after);
        for (const x of added) assert.ok(!before.includes(x) && after.includes(x));
        for (const x of removed) assert.ok(before.includes(x) && !after.includes(x));
        const applied = participantSet([...before.filter((x) => !removed.includes(x)), ...added]);
        assert.ok(sameSet(applied, after));
      }),
      { numRuns: RUNS },
    );
  });
});

describe("routing a People message to a room", function () {
  const JOE = parseAddress("joe@o.test");
  const room = (roomId: string, s: ParticipantSet) => ({ roomId, set: s });

  it("two participants are a DM; three or more a group", function () {
    assert.deepEqual(routeMessage({ from: JOE, set: set("joe@o.test", "a@p.test"), targets: [] }), {
      kind: "dm",
    });
    assert.deepEqual(
      routeMessage({ from: JOE, set: set("joe@o.test", "a@p.test", "ann@o.test"), targets: [] }),
      {
        kind: "group",
      },
    );
  });

  it("a reply into a group room of the same set continues it, even with two participants", function () {
    const s = set("joe@o.test", "a@p.test");
    assert.deepEqual(routeMessage({ from: JOE, set: s, targets: [room("!g", s)] }), {
      kind: "continue",
      roomId: "!g",
      change: { added: [], removed: [] },
    });
  });

  it("a reply by a member with another set of 3 or more changes the room's membership", function () {
    const before = set("joe@o.test", "a@p.test", "ann@o.test");
    const after = set("joe@o.test", "a@p.test", "dan@o.test");
    assert.deepEqual(routeMessage({ from: JOE, set: after, targets: [room("!g", before)] }), {
      kind: "continue",
      roomId: "!g",
      change: { added: ["dan@o.test"], removed: ["ann@o.test"] },
    });
  });

  it("a reply that narrows to two participants is a DM, and leaves the group alone", function () {
    const before = set("joe@o.test", "a@p.test", "ann@o.test");
    assert.deepEqual(
      routeMessage({ from: JOE, set: set("joe@o.test", "a@p.test"), targets: [room("!g", before)] }),
      {
        kind: "dm",
      },
    );
  });

  it("someone outside a room's set cannot change it by replying: their set is its own group", function () {
    const before = set("ann@o.test", "a@p.test", "carl@o.test");
    const theirs = set("joe@o.test", "a@p.test", "carl@o.test");
    assert.deepEqual(routeMessage({ from: JOE, set: theirs, targets: [room("!g", before)] }), {
      kind: "group",
    });
  });

  it("names a room after its People participants, cut short with a count", function () {
    const many = Array.from({ length: 40 }, (_, i) =>
      parseAddress(`user${i}@example.test`),
    ) as PeopleAddress[];
    assert.equal(groupRoomName([parseAddress("ann@o.test"), JOE]), "ann@o.test, joe@o.test");
    const name = groupRoomName(many);
    assert.ok(name.length <= 200 + " and 40 more".length, name);
    assert.match(name, /^user0@example\.test, .* and \d+ more$/);
    const shown = name.split(" and ")[0]!.split(", ").length;
    assert.equal(Number(/and (\d+) more$/.exec(name)![1]), 40 - shown);
  });
});
