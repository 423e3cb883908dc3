import assert from "node:assert/strict";
import fc from "fast-check";
import { PeopleError } from "../../src/people/errors";
import { isPeopleAddress, parseAddress, type PeopleAddress } from "../../src/people/protocol/address";
import {
  DEFAULT_GHOST_PREFIX,
  addressFromGhostUserId,
  escapeLocalpart,
  ghostLocalpart,
  ghostNamespaceRegex,
  ghostUserId,
  unescapeLocalpart,
} from "../../src/bridge/model/ghost-id";
import {
  isMatrixEventId,
  isMxcUri,
  parseMatrixUserId,
  splitMatrixUserId,
} from "../../src/bridge/model/matrix-ids";

const HS = "hs.example";
const addr = (s: string): PeopleAddress => parseAddress(s);

// Canonical People addresses, built from their grammar and kept only when parseAddress agrees.
const alnum = "abcdefghijklmnopqrstuvwxyz0123456789".split("");
const localChars = fc.constantFrom(...alnum, ".", "_", "-");
const localArb = fc
  .tuple(fc.constantFrom(...alnum), fc.array(localChars, { maxLength: 62 }), fc.constantFrom(...alnum))
  .map(([a, mid, b]) => a + mid.join("") + b);
const labelArb = fc
  .tuple(fc.constantFrom(...alnum), fc.array(fc.constantFrom(...alnum, "-"), { maxLength: 20 }))
  .map(([a, rest]) => a + rest.join("") + a);
const domainArb = fc
  .tuple(
    fc.array(labelArb, { minLength: 1, maxLength: 4 }),
    fc.constantFrom("com", "org", "example", "xn--p1ai"),
  )
  .map(([labels, tld]) => [...labels, tld].join("."));
const addressArb = fc
  .tuple(localArb, domainArb)
  .map(([l, d]) => `${l}@${d}`)
  .filter(isPeopleAddress)
  .map((s) => s as PeopleAddress);
/** Any code point but lone surrogates (fast-check's "binary" unit is slow to set up). */
const codePoint = fc
  .oneof(
    fc.integer({ min: 0, max: 0x7f }),
    fc.integer({ min: 0x80, max: 0xd7ff }),
    fc.integer({ min: 0xe000, max: 0x10ffff }),
  )
  .map((cp) => String.fromCodePoint(cp));
const serverArb = fc
  .tuple(fc.array(labelArb, { minLength: 1, maxLength: 3 }), fc.option(fc.integer({ min: 1, max: 65535 })))
  .map(([labels, port]) => labels.join(".") + (port === null ? "" : `:${port}`));

describe("bridge ghost ids", () => {
  describe("ghost localparts and user ids", () => {
    const cases: Array<[string, string]> = [
      ["joe@example.com", "_people_joe=40example.com"],
      ["j.o_e-1@sub.example.co.uk", "_people_j.o_e-1=40sub.example.co.uk"],
      ["joe@bücher.example", "_people_joe=40xn--bcher-kva.example"],
      ["joe@localhost", "_people_joe=40localhost"],
    ];
    for (const [input, localpart] of cases) {
      it(`${input} → ${localpart}`, () => {
        const a = addr(input);
        assert.equal(ghostLocalpart(a), localpart);
        assert.equal(ghostUserId(a, HS), `@${localpart}:${HS}`);
        assert.equal(addressFromGhostUserId(`@${localpart}:${HS}`, HS), a);
      });
    }

    it("takes a custom prefix and a server name with a port", () => {
      const id = ghostUserId(addr("joe@example.com"), "localhost:8448", "p/");
      assert.equal(id, "@p/joe=40example.com:localhost:8448");
      assert.equal(addressFromGhostUserId(id, "localhost:8448", "p/"), "joe@example.com");
      assert.equal(addressFromGhostUserId(id, "localhost:8448"), null);
    });

    it("escapes =, /, uppercase and non-ASCII as =-hex of UTF-8 bytes", () => {
      assert.equal(escapeLocalpart("a=b/C@ü"), "a=3db=2f=43=40=c3=bc");
      assert.equal(unescapeLocalpart("a=3db=2f=43=40=c3=bc"), "a=b/C@ü");
      assert.equal(escapeLocalpart("😀"), "=f0=9f=98=80");
    });

    it("refuses an address too long for Matrix's 255 characters, with a public text", () => {
      const long = addr(`${"a".repeat(64)}@${"b".repeat(60)}.${"c".repeat(60)}.${"d".repeat(60)}.com`);
      assert.throws(
        () => ghostUserId(long, HS),
        (e) => e instanceof PeopleError && e.code === "PEOPLE_BAD_ADDRESS" && /Matrix/.test(e.publicText),
      );
    });

    it("rejects a bad prefix or server name as a configuration error", () => {
      assert.throws(() => ghostLocalpart(addr("joe@example.com"), "_People_"), RangeError);
      assert.throws(() => ghostLocalpart(addr("joe@example.com"), ""), RangeError);
      assert.throws(() => ghostUserId(addr("joe@example.com"), "bad host"), RangeError);
      assert.throws(() => ghostNamespaceRegex("bad/host"), RangeError);
    });
  });

  describe("addressFromGhostUserId refuses everything that is not exactly a ghost", () => {
    const cases: Array<[string, string]> = [
      ["@alice:hs.example", "a normal user"],
      ["@_people_joe=40example.com:other.example", "another homeserver"],
      ["@_people_joe=40example.com:hs.example:8448", "a port the homeserver name lacks"],
      ["@_other_joe=40example.com:hs.example", "another prefix"],
      ["@_people_:hs.example", "an empty body"],
      ["@_people_joe@example.com:hs.example", "an unescaped @"],
      ["@_people_joe=4", "a truncated escape"],
      ["@_people_joe=4:hs.example", "a truncated escape before the server"],
      ["@_people_joe=4Aexample.com:hs.example", "uppercase hex"],
      ["@_people_joe=zzexample.com:hs.example", "non-hex escape"],
      ["@_people_=6aoe=40example.com:hs.example", "an escape that did not need escaping"],
      ["@_people_=4aoe=40example.com:hs.example", "a decoded address that is not canonical (J)"],
      ["@_people_joe:hs.example", "a decoded value that is not an address"],
      ["@_people_joe=40=40example.com:hs.example", "two @"],
      ["@_people_joe=ff=40example.com:hs.example", "invalid UTF-8"],
      ["@_people_joe=40xn--bcher-kva.example.:hs.example", "a trailing dot"],
      ["_people_joe=40example.com:hs.example", "no sigil"],
      [`@_people_joe=40${"a".repeat(300)}.com:hs.example`, "over 255 characters"],
    ];
    for (const [input, why] of cases) {
      it(`null for ${why}`, () => assert.equal(addressFromGhostUserId(input, HS), null));
    }

    it("null for non-strings passed from untyped code", () => {
      for (const v of [undefined, null, 42, {}, ["@_people_joe=40example.com:hs.example"]]) {
        assert.equal(addressFromGhostUserId(v as unknown as string, HS), null);
      }
    });
  });

  describe("Matrix ids", () => {
    it("parses user ids by the spec's grammar, historical localparts included", () => {
      for (const ok of [
        "@a:b",
        "@alice:example.org:8448",
        "@a:[::1]:8448",
        "@Old+Style!:hs.example",
        "@a:1.2.3.4",
      ]) {
        assert.equal(parseMatrixUserId(ok), ok);
      }
      for (const bad of [
        "alice:hs",
        "@:hs",
        "@a",
        "@a:",
        "@a b:hs",
        "@a:hs/x",
        "@a:hs:port",
        `@${"a".repeat(250)}:hs.ex`,
        7,
      ]) {
        assert.throws(
          () => parseMatrixUserId(bad),
          (e) => e instanceof PeopleError && e.code === "PEOPLE_BAD_REQUEST",
        );
      }
      assert.deepEqual(splitMatrixUserId(parseMatrixUserId("@a:hs:8448")), {
        localpart: "a",
        server: "hs:8448",
      });
    });

    it("checks event ids and mxc URIs", () => {
      assert.ok(isMatrixEventId("$abc_DEF-123"));
      assert.ok(isMatrixEventId("$old:hs.example"));
      assert.ok(!isMatrixEventId("abc") && !isMatrixEventId("$") && !isMatrixEventId("$a b"));
      assert.ok(isMxcUri("mxc://hs.example/AbC_-1"));
      assert.ok(
        !isMxcUri("mxc://hs.example/a/b") && !isMxcUri("https://hs.example/a") && !isMxcUri("mxc:///a"),
      );
    });
  });

  describe("the registration's namespace regex", () => {
    it("escapes the homeserver name and the prefix", () => {
      assert.equal(ghostNamespaceRegex("hs.example"), "^@_people_[a-z0-9._=\\-/]+:hs\\.example$");
      const re = new RegExp(ghostNamespaceRegex("hs.example"));
      assert.ok(re.test("@_people_joe=40example.com:hs.example"));
      assert.ok(!re.test("@_people_joe=40example.com:hsXexample"));
      assert.ok(!re.test("@alice:hs.example"));
      assert.ok(!re.test("@_people_Joe:hs.example"));
      // It compiles under the u flag too (JavaScript's strictest escape rules).
      assert.ok(new RegExp(ghostNamespaceRegex("[::1]:8448", "a.b/"), "u").test("@a.b/x:[::1]:8448"));
      assert.equal(ghostNamespaceRegex("hs", "p+"), "^@p\\+[a-z0-9._=\\-/]+:hs$");
    });
  });

  describe("properties", () => {
    it("round trip: every canonical address maps to one ghost and back", () => {
      fc.assert(
        fc.property(addressArb, serverArb, (a, hs) => {
          let id: string;
          try {
            id = ghostUserId(a, hs);
          } catch (e) {
            // Only addresses that cannot fit 255 characters may be refused.
            assert.ok(e instanceof PeopleError && `@${ghostLocalpart(a)}:${hs}`.length > 255);
            return;
          }
          assert.equal(addressFromGhostUserId(id, hs), a);
          assert.equal(splitMatrixUserId(parseMatrixUserId(id)).localpart, ghostLocalpart(a));
        }),
        { numRuns: 500 },
      );
    });

    it("every ghost id matches the namespace regex", () => {
      fc.assert(
        fc.property(addressArb, serverArb, (a, hs) => {
          fc.pre(`@${ghostLocalpart(a)}:${hs}`.length <= 255);
          assert.match(ghostUserId(a, hs), new RegExp(ghostNamespaceRegex(hs, DEFAULT_GHOST_PREFIX)));
        }),
        { numRuns: 500 },
      );
    });

    it("escaping round-trips any well-formed string and only ever yields localpart characters", () => {
      fc.assert(
        fc.property(fc.string({ unit: codePoint, maxLength: 40 }), (s) => {
          const escaped = escapeLocalpart(s);
          assert.match(escaped, /^[a-z0-9._=-]*$/);
          if (s !== "") assert.equal(unescapeLocalpart(escaped), s);
        }),
        { numRuns: 500 },
      );
    });

    it("addressFromGhostUserId never throws, on any string", () => {
      const ghostish = fc
        .tuple(fc.string({ maxLength: 30 }), fc.stringMatching(/^[a-z0-9._=@%-]{0,40}$/))
        .map(([junk, body]) => [`@_people_${body}:${HS}`, `@_people_${junk}:${HS}`, junk]);
      fc.assert(
        fc.property(ghostish, fc.string({ unit: codePoint, maxLength: 300 }), (candidates, s) => {
          for (const c of [...candidates, s]) {
            const a = addressFromGhostUserId(c, HS);
            if (a !== null) assert.equal(ghostUserId(a, HS), c);
          }
        }),
        { numRuns: 1000 },
      );
    });
  });
});
