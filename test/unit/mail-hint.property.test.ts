// The NOTIFY payload between the processes of a domain (src/store/mail-hint.ts):
// any device list round-trips through one or more payloads that PostgreSQL
// accepts, and anything else a listener may be sent parses to undefined, never throws.
import assert from "node:assert/strict";
import fc from "fast-check";
import { formatMailHint, parseMailHint } from "../../src/store/mail-hint.js";

const origin = fc.stringMatching(/^[0-9a-f]{16}$/);
const address = fc.stringMatching(/^[a-z0-9._-]{1,64}@[a-z0-9.-]{1,200}$/);
const device = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);

describe("mail hints (NOTIFY payloads)", () => {
  it("round-trip any device list, split into payloads under PostgreSQL's 8000 bytes", () => {
    fc.assert(
      fc.property(origin, address, fc.uniqueArray(device, { minLength: 1, maxLength: 400 }), (o, a, d) => {
        const payloads = formatMailHint({ origin: o, address: a, devices: d });
        const back: string[] = [];
        for (const p of payloads) {
          assert.ok(Buffer.byteLength(p) < 8000, `payload of ${Buffer.byteLength(p)} bytes`);
          const hint = parseMailHint(p);
          assert.ok(hint);
          assert.equal(hint.origin, o);
          assert.equal(hint.address, a);
          back.push(...hint.devices);
        }
        assert.deepEqual(back, d);
      }),
    );
  });

  it("parse anything else to undefined without throwing", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        (text) => {
          const hint = parseMailHint(text);
          if (hint !== undefined) assert.match(hint.origin, /^[0-9a-f]{16}$/);
        },
      ),
    );
    for (const bad of [
      "",
      "{",
      "null",
      '{"o":"00","a":"x@y","d":["d"]}',
      '{"o":"0123456789abcdef","a":"x@y","d":[]}',
      '{"o":"0123456789abcdef","a":"x@y","d":["d"],"content":"no"}',
      '{"o":"0123456789abcdef","a":"","d":["d"]}',
    ]) {
      assert.equal(parseMailHint(bad), undefined, bad);
    }
  });
});
