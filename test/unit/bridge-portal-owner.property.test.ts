// Portals per own address: `dm <address> [--as <own address>]` and `use <own address>`.
// Property tests (fast-check): every valid address is taken in either place; anything else
// (wrong word count, a flag other than `--as`, a non-address) is a user error with the usage,
// never a raw throw or a silent accept.
import assert from "node:assert/strict";
import fc from "fast-check";
import { DM_USAGE, parseDmArgs } from "../../src/bridge/portals/dm-args.js";
import { USE_USAGE, parseUseArgs } from "../../src/bridge/adapters/accounts/login-commands.js";
import { isUserError } from "../../src/bridge/core/error-kinds.js";
import { parseAddress } from "../../src/people/protocol/address.js";

const RUNS = 300;
const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const address = fc
  .tuple(label, label, fc.constantFrom("test", "example", "org"))
  .map(([local, host, tld]) => `${local}@${host}.${tld}`)
  .filter((a) => isAddress(a));

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    assert.ok(isUserError(err), `a user error, not ${String(err)}`);
    return err.userText;
  }
  return assert.fail("accepted");
}

function isAddress(s: string): boolean {
  try {
    parseAddress(s);
    return true;
  } catch {
    return false;
  }
}

describe("dm --as and use: the argument parsers", () => {
  it("dm takes an address, and an own address after --as", () => {
    assert.deepEqual(parseDmArgs(["ann@people.test"]), { address: "ann@people.test" });
    assert.deepEqual(parseDmArgs(["ann@people.test", "--as", "joe@other.test"]), {
      address: "ann@people.test",
      as: "joe@other.test",
    });
    assert.equal(parseUseArgs(["joe@other.test"]), "joe@other.test");
  });

  it("every valid address is taken, in either place, as parseAddress reads it", () => {
    fc.assert(
      fc.property(address, address, (to, as) => {
        const parsed = parseDmArgs([to, "--as", as]);
        assert.equal(parsed.address, parseAddress(to));
        assert.equal(parsed.as, parseAddress(as));
        assert.equal(parseUseArgs([as]), parseAddress(as));
      }),
      { numRuns: RUNS },
    );
  });

  it("a wrong word count or a flag other than --as is refused with the usage", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 }),
        fc.string({ maxLength: 8 }),
        (words, flag) => {
          fc.pre(words.length !== 1 && !(words.length === 3 && words[1] === "--as"));
          assert.ok(refusal(() => parseDmArgs(words)).includes(DM_USAGE));
          if (words.length !== 1) assert.ok(refusal(() => parseUseArgs(words)).includes(USE_USAGE));
          fc.pre(flag !== "--as");
          assert.ok(refusal(() => parseDmArgs(["a@b.test", flag, "c@d.test"])).includes(DM_USAGE));
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("anything that is not an address is refused, never thrown raw", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), address, (junk, good) => {
        fc.pre(!isAddress(junk));
        assert.match(
          refusal(() => parseDmArgs([junk])),
          /not a People address/,
        );
        assert.match(
          refusal(() => parseDmArgs([good, "--as", junk])),
          /not a People address/,
        );
        assert.match(
          refusal(() => parseDmArgs([junk, "--as", good])),
          /not a People address/,
        );
        assert.match(
          refusal(() => parseUseArgs([junk])),
          /not a People address/,
        );
      }),
      { numRuns: RUNS },
    );
  });
});
