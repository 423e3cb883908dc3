// The people-rtc-relay sidecar's stdout lines (src/bridge/adapters/rtc/relay-wire.ts): what the
// contract says parses into typed replies and events; anything else, random or hostile, is an
// `invalid` value with a reason that never echoes the line, and never a throw. The line splitter
// hands out the same lines however the stream is cut, and drops a line over 1 MiB.
import assert from "node:assert/strict";
import fc from "fast-check";
import { LineSplitter, MAX_LINE_BYTES, parseRelayLine } from "../../src/bridge/adapters/rtc/relay-wire.js";

const event = fc.oneof(
  fc.record({
    event: fc.constant("state"),
    call: fc.string({ minLength: 1, maxLength: 40 }),
    state: fc.constantFrom("new", "connecting", "connected", "failed", "closed"),
  }),
  fc.record({
    event: fc.constant("media"),
    call: fc.string({ minLength: 1, maxLength: 40 }),
    direction: fc.constantFrom("toPeople", "toMatrix"),
    kind: fc.constantFrom("audio", "video"),
  }),
  fc.record({
    event: fc.constant("candidate"),
    call: fc.string({ minLength: 1, maxLength: 40 }),
    candidate: fc.option(fc.record({ candidate: fc.string(), sdpMid: fc.string({ maxLength: 5 }) }), {
      nil: null,
    }),
  }),
  fc.record({
    event: fc.constant("left"),
    call: fc.string({ minLength: 1 }),
    identity: fc.string({ minLength: 1 }),
  }),
);

describe("people-rtc-relay stdout lines (relay-wire), property-based", function () {
  it("every reply of the contract parses, with its fields", function () {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.dictionary(fc.constantFrom("sdp", "fingerprint", "x"), fc.string()),
        (id, rest) => {
          const ok = parseRelayLine(JSON.stringify({ ...rest, id, ok: true }));
          assert.equal(ok.kind, "reply");
          assert.ok(ok.kind === "reply" && ok.reply.id === id && ok.reply.ok);
          const err = parseRelayLine(JSON.stringify({ id, ok: false, error: "nope" }));
          assert.ok(err.kind === "reply" && !err.reply.ok && err.reply.error === "nope");
        },
      ),
    );
  });

  it("every event of the contract parses", function () {
    fc.assert(
      fc.property(event, (e) => {
        const p = parseRelayLine(JSON.stringify(e));
        assert.equal(p.kind, "event", JSON.stringify(e));
      }),
    );
  });

  it("anything else is invalid, never a throw, and the reason does not echo the line", function () {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify({ event: v, call: "c" })),
          fc.jsonValue().map((v) => JSON.stringify({ id: v, ok: "yes" })),
          fc.string().map((s) => JSON.stringify({ id: -1, ok: true, s })),
        ),
        (line) => {
          const p = parseRelayLine(line);
          if (p.kind === "invalid") {
            if (line.length > 12) assert.ok(!p.why.includes(line));
            return;
          }
          // Whatever passed is of the contract's shape.
          if (p.kind === "reply") assert.ok(p.reply.id === null || Number.isInteger(p.reply.id));
          else assert.equal(typeof p.event.call, "string");
        },
      ),
    );
  });

  it("a line over 1 MiB is invalid", function () {
    const line = JSON.stringify({ id: 1, ok: true, sdp: "x".repeat(MAX_LINE_BYTES) });
    assert.deepEqual(parseRelayLine(line), { kind: "invalid", why: "a line over 1 MiB" });
  });

  it("the splitter gives the same lines however the stream is cut", function () {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: "grapheme" }).filter((s) => !s.includes("\n") && s.trim() !== "")),
        fc.array(fc.nat(), { maxLength: 20 }),
        (lines, cuts) => {
          const text = lines.map((l) => `${l}\n`).join("");
          const got: string[] = [];
          const s = new LineSplitter(
            (l) => got.push(l),
            () => assert.fail("nothing here is overlong"),
          );
          const at = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          let from = 0;
          for (const c of [...at, text.length]) {
            s.push(text.slice(from, c));
            from = c;
          }
          assert.deepEqual(got, lines);
        },
      ),
    );
  });

  it("the splitter drops a line that grows past 1 MiB in pieces and goes on with the next", function () {
    const got: string[] = [];
    let overlong = 0;
    const s = new LineSplitter(
      (l) => got.push(l),
      () => overlong++,
    );
    s.push('{"a":1}\n');
    for (let i = 0; i < 5; i++) s.push("y".repeat(MAX_LINE_BYTES / 4 + 1));
    s.push('tail\n{"b":2}\n');
    assert.deepEqual(got, ['{"a":1}', '{"b":2}']);
    assert.equal(overlong, 1);
  });
});
