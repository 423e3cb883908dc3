// The history archive's parser (PROTOCOL §11.1.2), with fast-check: every
// archive a device writes is read back as written; anything else (bytes that
// are not JSON, JSON of any shape, archives broken in one place) is
// PEOPLE_BAD_REQUEST, never another error, and never half-read.
import assert from "node:assert/strict";
import fc from "fast-check";
import { PeopleError } from "../../src/people/errors.js";
import {
  MAX_HISTORY_BYTES,
  parseHistoryArchive,
  parseHistoryPointer,
  type HistoryArchive,
} from "../../src/people/protocol/history-archive.js";

const RUNS = 200;
const JOE = "joe@other.test";
const DEVICE = "dev-bridge-1";
const b64 = (n: number) =>
  fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString("base64url"));
const peer = fc.constantFrom("ann@other.test", "bob@people.test", "carol.x@example.org");

const message = fc
  .record({
    id: b64(16),
    peer,
    outgoing: fc.boolean(),
    ts: fc.integer({ min: 0, max: 2e12 }),
    body: fc.string({ maxLength: 200 }),
  })
  .map((m) => ({
    id: m.id,
    from: m.outgoing ? JOE : m.peer,
    to: [m.outgoing ? m.peer : JOE],
    ts: m.ts,
    outgoing: m.outgoing,
    content: { type: "text" as const, body: m.body },
  }));

const archive: fc.Arbitrary<HistoryArchive> = fc
  .record({
    messages: fc.uniqueArray(message, { maxLength: 30, selector: (m) => m.id }),
    contacts: fc.uniqueArray(
      fc.record({
        address: peer,
        account_key: b64(32),
        verified: fc.boolean(),
        state: fc.constantFrom("pinned" as const, "unexplained" as const),
      }),
      { selector: (c) => c.address },
    ),
    groups: fc.array(
      fc.record({
        group: b64(16),
        epoch: fc.nat(1000),
        key: b64(32),
        members: fc.array(peer, { maxLength: 3 }),
      }),
      { maxLength: 3 },
    ),
    made_at: fc.integer({ min: 0, max: 2e12 }),
  })
  .map((a) => ({
    v: 1 as const,
    type: "people.history" as const,
    address: JOE,
    device: DEVICE,
    made_at: a.made_at,
    messages: [...a.messages].sort((x, y) => x.ts - y.ts || (x.id < y.id ? -1 : 1)),
    contacts: a.contacts,
    groups: a.groups,
  }));

const bytes = (x: unknown) => Buffer.from(JSON.stringify(x));
const expect = { address: JOE, device: DEVICE };

function refused(input: Buffer, o = expect): void {
  assert.throws(
    () => parseHistoryArchive(input, o),
    (e: unknown) => e instanceof PeopleError && e.code === "PEOPLE_BAD_REQUEST",
  );
}

describe("history archive: the parser", () => {
  it("reads back every archive a device writes", () => {
    fc.assert(
      fc.property(archive, (a) =>
        assert.deepEqual(parseHistoryArchive(bytes(a), expect), JSON.parse(JSON.stringify(a))),
      ),
      { numRuns: RUNS },
    );
  });

  it("refuses anything that is not an archive with PEOPLE_BAD_REQUEST alone", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => refused(Buffer.from(b))),
      { numRuns: RUNS },
    );
    fc.assert(
      fc.property(fc.jsonValue(), (j) => refused(bytes(j))),
      { numRuns: RUNS },
    );
  });

  it("refuses an archive broken in one place", () => {
    fc.assert(
      fc.property(archive, fc.nat(), (a, pick) => {
        const broken: unknown[] = [
          { ...a, v: 2 },
          { ...a, extra: true },
          { ...a, address: "Joe@Other.test" },
          { ...a, messages: [...a.messages, { ...a.messages[0], content: { type: "nope" } }] },
          { ...a, contacts: [...a.contacts, ...a.contacts.slice(0, 1)] },
          { ...a, groups: [...a.groups, { group: "short", epoch: 0, key: "x", members: [] }] },
        ];
        if (a.messages.length > 1) broken.push({ ...a, messages: [...a.messages].reverse() });
        if (a.messages.length > 0) {
          const m = a.messages[0]!;
          broken.push({ ...a, messages: [{ ...m, outgoing: !m.outgoing }, ...a.messages.slice(1)] });
        }
        const chosen = broken.filter((b) => JSON.stringify(b) !== JSON.stringify(a));
        refused(bytes(chosen[pick % chosen.length]));
      }),
      { numRuns: RUNS },
    );
  });

  it("refuses an archive for another account or device, and one over the size limit", () => {
    fc.assert(
      fc.property(archive, (a) => {
        refused(bytes(a), { address: "ann@other.test", device: DEVICE });
        refused(bytes(a), { address: JOE, device: "another" });
      }),
      { numRuns: 50 },
    );
    refused(Buffer.alloc(MAX_HISTORY_BYTES + 1, 0x20));
  });
});

describe("history archive: the pointer in a device_link message", () => {
  const blob = {
    server: "other.test",
    id: "a".repeat(43),
    key: Buffer.alloc(32, 1).toString("base64url"),
    hash: Buffer.alloc(32, 2).toString("base64url"),
    mime: "application/json",
    size: 10,
  };

  it("reads a pointer, and nothing else", () => {
    const doc = JSON.stringify({ people_history: { v: 1, device: DEVICE, blob } });
    assert.deepEqual(parseHistoryPointer(doc), { v: 1, device: DEVICE, blob });
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        const p = parseHistoryPointer(s);
        assert.ok(p === undefined || p.v === 1);
      }),
      { numRuns: RUNS },
    );
    assert.equal(
      parseHistoryPointer(JSON.stringify({ people_history: { v: 1, device: DEVICE } })),
      undefined,
    );
    assert.equal(parseHistoryPointer(JSON.stringify({ people_link_grant: {} })), undefined);
  });
});
