// The move notice parser (protocol/move-notice.ts) against anything: a notice
// the account key issued parses back to what it says and verifies under that
// key only; any change to its body or signature, and arbitrary input, is
// refused with a PeopleError (never another exception) or fails to verify.
import assert from "node:assert/strict";
import fc from "fast-check";
import { PeopleError } from "../../src/people/errors.js";
import { parseAddress, type PeopleAddress } from "../../src/people/protocol/address.js";
import { b64u } from "../../src/people/protocol/bytes.js";
import { Ed25519KeyPair } from "../../src/people/protocol/keys.js";
import {
  issueMoveNotice,
  parseMoveNotice,
  verifyMoveNotice,
  type MoveNotice,
} from "../../src/people/protocol/move-notice.js";

const RUNS = 300;
const KEY = Ed25519KeyPair.generate();
const OTHER = Ed25519KeyPair.generate();

const local = fc
  .stringMatching(/^[a-z0-9][a-z0-9._-]{0,15}$/)
  .filter((s) => !/[._-]$/.test(s) && !/[._-]{2}/.test(s));
const domain = fc.stringMatching(/^[a-z][a-z0-9]{0,10}\.(test|example|org)$/);
const address = fc.tuple(local, domain).map(([l, d]) => parseAddress(`${l}@${d}`));

/** Parse and verify under KEY; a refusal is a PeopleError, anything else fails the property. */
function accepted(input: unknown): MoveNotice | undefined {
  try {
    const n = parseMoveNotice(input);
    verifyMoveNotice(n, KEY.publicKey);
    return n;
  } catch (e) {
    assert.ok(e instanceof PeopleError, `not a PeopleError: ${String(e)}`);
    return undefined;
  }
}

describe("move notice parser (property)", () => {
  it("round-trips what the account key issued, and verifies under that key only", () => {
    fc.assert(
      fc.property(address, address, fc.integer({ min: 0, max: 2 ** 50 }), (from, to, movedAt) => {
        fc.pre(from !== to);
        const issued = issueMoveNotice({ from, to, accountKey: KEY, movedAt });
        const n = accepted(JSON.parse(JSON.stringify(issued.wire)));
        assert.ok(n);
        assert.equal(n.from, from);
        assert.equal(n.to, to);
        assert.equal(n.movedAt, movedAt);
        assert.throws(() => verifyMoveNotice(n, OTHER.publicKey), /PEOPLE_BAD_SIGNATURE/);
      }),
      { numRuns: RUNS },
    );
  });

  it("refuses any change to the body or the signature", () => {
    const issued = issueMoveNotice({
      from: "joe@other.test" as PeopleAddress,
      to: "joe@third.test" as PeopleAddress,
      accountKey: KEY,
      movedAt: 1_700_000_000_000,
    });
    const bytes = Buffer.from(issued.wire.body, "base64url");
    const sig = Buffer.from(issued.wire.sig, "base64url");
    fc.assert(
      fc.property(fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }), (inBody, at, flip) => {
        const target = Buffer.from(inBody ? bytes : sig);
        target[at % target.length]! ^= flip;
        const wire = inBody
          ? { body: b64u(target), sig: issued.wire.sig }
          : { body: issued.wire.body, sig: b64u(target) };
        assert.equal(accepted(wire), undefined);
      }),
      { numRuns: RUNS },
    );
  });

  it("refuses arbitrary input with a PeopleError", () => {
    const json = fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v)).toString("base64url"));
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({ body: fc.oneof(fc.string(), json), sig: fc.string() }),
          fc.record({ body: json, sig: fc.constant(b64u(Buffer.alloc(64))) }),
        ),
        (input) => {
          assert.equal(accepted(input), undefined);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("refuses a notice that moves an address to itself, or with members it does not know", () => {
    const body = (o: object) => Buffer.from(JSON.stringify(o));
    const base = {
      v: 1,
      type: "people.move_notice",
      from: "joe@other.test",
      to: "joe@other.test",
      account_key: KEY.publicKey.toB64u(),
      moved_at: 1,
    };
    for (const o of [base, { ...base, to: "joe@third.test", extra: 1 }, { ...base, to: "Joe@third.test" }]) {
      const bytes = body(o);
      assert.equal(accepted({ body: b64u(bytes), sig: b64u(KEY.signRaw(bytes)) }), undefined);
    }
  });
});
