import assert from "node:assert/strict";
import fc from "fast-check";
import { PeopleError } from "../../src/people/errors";
import {
  MAX_INPUT_LENGTH,
  addressDomain,
  addressLocal,
  addressesEqual,
  displayAddress,
  formatAddress,
  isPeopleAddress,
  parseAddress,
} from "../../src/people/protocol/address";

/** Asserts a PEOPLE_BAD_ADDRESS whose detail mentions `why`. */
function rejects(input: string, why: string | RegExp): void {
  assert.throws(
    () => parseAddress(input),
    (e) => {
      assert.ok(e instanceof PeopleError && e.code === "PEOPLE_BAD_ADDRESS", `unexpected error ${String(e)}`);
      if (typeof why === "string") assert.ok(e.message.includes(why), `"${e.message}" lacks "${why}"`);
      else assert.match(e.message, why);
      return true;
    },
  );
}

describe("People address", () => {
  describe("valid addresses", () => {
    const cases: Array<[string, string]> = [
      ["joe@example.com", "joe@example.com"],
      ["Joe@Example.COM", "joe@example.com"],
      ["j.o_e-1@sub.example.co.uk", "j.o_e-1@sub.example.co.uk"],
      ["joe@bücher.example", "joe@xn--bcher-kva.example"],
      ["joe@BÜCHER.example", "joe@xn--bcher-kva.example"],
      ["joe@xn--bcher-kva.example", "joe@xn--bcher-kva.example"],
      ["joe@localhost", "joe@localhost"],
      ["joe@LocalHost", "joe@localhost"],
      ["joe@пример.рф", "joe@xn--e1afmkfd.xn--p1ai"],
      ["joe@例え.テスト", "joe@xn--r8jz45g.xn--zckzah"], // Han + Hiragana, Katakana
      ["joe@한국어漢字.kr", "joe@xn--p8s937b4q9bkkuslr.kr"], // Hangul + Han
      ["joe@ｅｘａｍｐｌｅ。com", "joe@example.com"], // IDNA width mapping and ideographic dot
      ["joe@a-b.c1.example", "joe@a-b.c1.example"],
    ];
    for (const [input, want] of cases) {
      it(`${input} -> ${want}`, () => {
        assert.equal(parseAddress(input), want);
      });
    }

    it("accepts a v3 .onion address", () => {
      const onion = "pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion";
      assert.equal(parseAddress(`joe@${onion.toUpperCase()}`), `joe@${onion}`);
    });

    it("accepts the limits exactly", () => {
      assert.equal(addressLocal(parseAddress(`${"a".repeat(64)}@example.com`)).length, 64);
      assert.equal(parseAddress(`a@${"b".repeat(63)}.com`), `a@${"b".repeat(63)}.com`);
      // A 253-octet domain is fine on its own but "a@" + it is 255 octets; one fewer fits.
      const domain = `${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(63)}.${"e".repeat(61)}`;
      assert.equal(domain.length, 253);
      rejects(`a@${domain}`, "address longer than 254 octets");
      const d252 = domain.slice(1);
      assert.equal(parseAddress(`a@${d252}`).length, 254);
    });

    it("helpers split, compare, format and display", () => {
      const a = parseAddress("Joe@Bücher.Example");
      assert.equal(formatAddress(a), "joe@xn--bcher-kva.example");
      assert.equal(addressLocal(a), "joe");
      assert.equal(addressDomain(a), "xn--bcher-kva.example");
      assert.equal(displayAddress(a), "joe@bücher.example");
      assert.ok(addressesEqual(a, parseAddress("joe@xn--bcher-kva.example")));
      assert.ok(!addressesEqual(a, parseAddress("jo@bücher.example")));
    });

    it("isPeopleAddress is true only for canonical strings", () => {
      assert.ok(isPeopleAddress("joe@example.com"));
      assert.ok(!isPeopleAddress("Joe@example.com"));
      assert.ok(!isPeopleAddress("joe@bücher.example"));
      assert.ok(!isPeopleAddress("not an address"));
    });
  });

  describe("rejections", () => {
    const cases: Array<[string, string, string]> = [
      ["empty input", "", "missing '@'"],
      ["no '@'", "joe.example.com", "missing '@'"],
      ["two '@'", "joe@ex@example.com", "more than one '@'"],
      ["empty local part", "@example.com", "local part is empty"],
      ["local part over 64", `${"a".repeat(65)}@example.com`, "local part longer than 64"],
      ["'+' tag", "joe+tag@example.com", "local part contains '+'"],
      ["quotes", '"joe"@example.com', `local part contains '"'`],
      ["space in local", "jo e@example.com", "whitespace"],
      ["leading space", " joe@example.com", "whitespace"],
      ["trailing newline", "joe@example.com\n", "domain contains U+000A"],
      ["'='", "joe=x@example.com", "local part contains '='"],
      ["non-ASCII local", "josé@example.com", "local part contains U+00E9"],
      ["Kelvin sign is not folded", "\u212Aelvin@example.com", "local part contains U+212A"],
      ["local starts with '.'", ".joe@example.com", "start and end with a letter or digit"],
      ["local ends with '-'", "joe-@example.com", "start and end with a letter or digit"],
      ["local starts with '_'", "_joe@example.com", "start and end with a letter or digit"],
      ["consecutive dots", "jo..e@example.com", "local part contains '..'"],
      ["empty domain", "joe@", "domain is empty"],
      ["trailing dot", "joe@example.com.", "domain ends with a dot"],
      ["leading dot", "joe@.example.com", "empty label"],
      ["empty label", "joe@example..com", "empty label"],
      ["label over 63", `joe@${"a".repeat(64)}.com`, "domain label longer than 63 octets"],
      ["domain over 253", `j@${"a.".repeat(126)}com`, "domain longer than 253 octets"],
      ["label starts with '-'", "joe@-example.com", "starts or ends with '-'"],
      ["label ends with '-'", "joe@example-.com", "starts or ends with '-'"],
      ["'--' at 3-4 without xn", "joe@ab--cd.com", "not xn--"],
      ["'_' in domain", "joe@ex_ample.com", "domain contains '_'"],
      ["percent escape", "joe@ex%41mple.com", "domain contains '%'"],
      ["slash", "joe@example.com/x", "domain contains '/'"],
      ["single label", "joe@example", "domain needs a dot"],
      ["IPv4", "joe@1.2.3.4", "IP address literal"],
      ["IPv4 shorthand", "joe@127.1", "IP address literal"],
      ["IPv4 hex", "joe@0x7f.1", "IP address literal"],
      ["IPv4 with trailing dot", "joe@1.2.3.4.", "IP address literal"],
      ["IPv6 literal", "joe@[::1]", "IP address literal"],
      ["bad punycode", "joe@xn--zz.com", "not valid IDNA"],
      ["soft hyphen", "joe@exa\u00ADmple.com", "domain contains U+00AD"],
      ["zero-width joiner", "joe@exa\u200Dmple.com", "domain contains U+200D"],
      ["no-break space", "joe@exa\u00A0mple.com", "domain contains U+00A0"],
    ];
    for (const [name, input, why] of cases) {
      it(name, () => rejects(input, why));
    }

    it("rejects an address over 254 octets", () => {
      rejects(
        `${"a".repeat(64)}@${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(62)}`,
        "address longer than 254 octets",
      );
    });

    it("rejects non-string input at runtime", () => {
      rejects(42 as unknown as string, "not a string");
    });
  });

  describe("confusables", () => {
    it("rejects Cyrillic 'а' inside a Latin label", () => {
      rejects("joe@ex\u0430mple.com", "mixed scripts in domain label: Latin and Cyrillic");
    });
    it("rejects the same spoof given as an A-label", () => {
      rejects("joe@xn--exmple-4nf.com", "mixed scripts in domain label: Latin and Cyrillic");
    });
    it("rejects Greek 'ο' inside a Latin label", () => {
      rejects("joe@g\u03BFogle.com", "mixed scripts in domain label: Latin and Greek");
    });
    it("rejects Cyrillic mixed with Greek", () => {
      rejects("joe@\u043F\u0440\u03B9\u043C\u0435\u0440.com", "Cyrillic and Greek");
    });
    it("rejects Latin mixed with Han (only CJK mixes are allowed)", () => {
      rejects("joe@abc漢字.com", "Latin and Han");
    });
    it("rejects Hangul mixed with Hiragana", () => {
      rejects("joe@한국にほん.com", "mixed scripts");
    });
    it("rejects an all-Cyrillic lookalike label (аррӏе)", () => {
      rejects("joe@\u0430\u0440\u0440\u04CF\u0435.com", "whole-script confusable");
    });
    it("rejects an all-Greek lookalike label", () => {
      rejects("joe@\u03BD\u03B1\u03BF.com", "whole-script confusable");
    });
    it("still accepts real Cyrillic and Greek words", () => {
      assert.equal(displayAddress(parseAddress("joe@пример.рф")), "joe@пример.рф");
      assert.equal(displayAddress(parseAddress("joe@ελληνικά.gr")), "joe@ελληνικά.gr");
    });
    it("mixing scripts across different labels is allowed", () => {
      assert.ok(parseAddress("joe@пример.com"));
    });
  });

  describe("input size cap", () => {
    const hostile = [
      "a".repeat(100_000) + "@",
      "@".repeat(100_000),
      ".".repeat(100_000),
      "a@" + "a.".repeat(50_000) + "com",
      "a@" + "\u0430".repeat(100_000),
      "a".repeat(MAX_INPUT_LENGTH + 1),
    ];
    for (const input of hostile) {
      it(`rejects ${input.length} chars starting ${JSON.stringify(input.slice(0, 4))} before any parsing`, () => {
        rejects(input, `input longer than ${MAX_INPUT_LENGTH} characters`);
      });
    }
    it("does not apply the cap at exactly the limit", () => {
      rejects("a".repeat(MAX_INPUT_LENGTH), "missing '@'");
    });
  });

  describe("properties", () => {
    // Fragments that hit the interesting branches far more often than random text.
    const fragment = fc.constantFrom(
      "a",
      "Z",
      "0",
      "9",
      ".",
      "..",
      "-",
      "_",
      "@",
      "+",
      " ",
      "xn--",
      "com",
      "localhost",
      "1.2.3.4",
      "[",
      ":",
      "%",
      "/",
      "\u0430",
      "\u03BF",
      "ü",
      "例",
      "한",
      "に",
      "\u00AD",
      "\u212A",
      "。",
      "\uD800",
      "ｅ",
    );
    const noisy = fc.array(fragment, { maxLength: 12 }).map((parts) => parts.join(""));
    const anyString = fc.oneof(
      fc.string({ unit: "binary", maxLength: 80 }),
      fc.string({ unit: "grapheme", maxLength: 40 }),
      noisy,
    );

    const localArb = fc
      .array(fc.stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9_-]{0,6}[a-zA-Z0-9])?$/), {
        minLength: 1,
        maxLength: 4,
      })
      .map((parts) => parts.join("."));
    const asciiLabel = fc
      .stringMatching(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?$/)
      .filter((l) => l.slice(2, 4) !== "--");
    const unicodeLabel = fc.constantFrom("bücher", "пример", "例え", "한국", "ελληνικά", "ÉCOLE", "日本語");
    const tld = fc.constantFrom("com", "example", "org", "onion", "рф", "テスト", "COM");
    const domainArb = fc.oneof(
      fc
        .tuple(fc.array(fc.oneof(asciiLabel, unicodeLabel), { minLength: 1, maxLength: 3 }), tld)
        .map(([ls, t]) => [...ls, t].join(".")),
      fc.constant("localhost"),
    );
    const validArb = fc.tuple(localArb, domainArb).map(([l, d]) => `${l}@${d}`);

    it("any string either parses or throws PEOPLE_BAD_ADDRESS, never anything else", () => {
      fc.assert(
        fc.property(anyString, (s) => {
          try {
            parseAddress(s);
          } catch (e) {
            return e instanceof PeopleError && e.code === "PEOPLE_BAD_ADDRESS";
          }
          return true;
        }),
        { numRuns: 2000 },
      );
    });

    it("error details never echo much of the input", () => {
      fc.assert(
        fc.property(fc.oneof(anyString, fc.string({ minLength: 200, maxLength: 2000 })), (s) => {
          try {
            parseAddress(s);
          } catch (e) {
            return (e as Error).message.length < 120;
          }
          return true;
        }),
      );
    });

    it("generated valid addresses parse, and parsing is idempotent", () => {
      fc.assert(
        fc.property(validArb, (s) => {
          const once = parseAddress(s);
          assert.equal(parseAddress(once), once);
          assert.ok(isPeopleAddress(once));
        }),
        { numRuns: 1000 },
      );
    });

    it("parsing is idempotent for any string that parses", () => {
      fc.assert(
        fc.property(anyString, (s) => {
          let once: string;
          try {
            once = parseAddress(s);
          } catch {
            return true;
          }
          return parseAddress(once) === once;
        }),
        { numRuns: 2000 },
      );
    });

    it("canonical output is lowercase ASCII of the expected shape", () => {
      fc.assert(
        fc.property(fc.oneof(validArb, anyString), (s) => {
          let out: string;
          try {
            out = parseAddress(s);
          } catch {
            return true;
          }
          return /^[a-z0-9._-]+@[a-z0-9.-]+$/.test(out) && out.length <= 254;
        }),
        { numRuns: 2000 },
      );
    });

    it("displayAddress parses back to the same address", () => {
      fc.assert(
        fc.property(validArb, (s) => {
          const a = parseAddress(s);
          assert.equal(parseAddress(displayAddress(a)), a);
        }),
        { numRuns: 500 },
      );
    });
  });
});
