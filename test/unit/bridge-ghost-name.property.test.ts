// The ghost name filter (model/ghost-name.ts) against look-alikes: whatever
// compatibility forms (NFKC-equivalents) spell a Matrix user ID or another
// People address, with invisible characters sprinkled in and text around it,
// the name is not used and the ghost is named after its own address; and
// names with no `@` at all (after NFKC) are never refused for their shape.
import assert from "node:assert/strict";
import fc from "fast-check";
import { ghostDisplayName, sanitizeProfileName } from "../../src/bridge/model/ghost-name.js";

const RUNS = 500;
const OWN = "mallory@evil.test";
const T = "{displayname} (People)";

/** Characters whose NFKC form is `c` (besides `c` itself), for the ASCII a shape is written in. */
function variantsOf(c: string): string[] {
  const code = c.codePointAt(0)!;
  const out = [c];
  if (code >= 0x21 && code <= 0x7e) out.push(String.fromCodePoint(code - 0x21 + 0xff01)); // full width
  if (c >= "a" && c <= "z") {
    out.push(String.fromCodePoint(0x1d41a + code - 0x61)); // mathematical bold small
    out.push(String.fromCodePoint(0x24d0 + code - 0x61)); // circled small
  }
  if (c >= "A" && c <= "Z") out.push(String.fromCodePoint(0x1d400 + code - 0x41));
  if (c >= "0" && c <= "9")
    out.push(String.fromCodePoint(0x1d7ce + code - 0x30), String.fromCodePoint(0x2080 + code - 0x30));
  const extra: Record<string, string[]> = {
    "@": ["\ufe6b"],
    ":": ["\ufe55", "\ufe13", "\u2236"],
    ".": ["\ufe52", "\u2024", "\u3002", "\uff61"],
    "-": ["\ufe63"],
    _: ["\ufe4d", "\ufe4e"],
  };
  out.push(...(extra[c] ?? []));
  return out.filter((v) => v === c || v.normalize("NFKC") === c || [":", "."].includes(c));
}

const INVISIBLE = ["", "", "", "\u200b", "\u200d", "\u2060", "\ufeff", "\u202e", "\u2066"];

/** One spelling of `ascii`: each character replaced by one of its look-alikes, invisibles between them. */
function spelled(ascii: string): fc.Arbitrary<string> {
  return fc
    .tuple(
      ...[...ascii].map((c) => fc.tuple(fc.constantFrom(...variantsOf(c)), fc.constantFrom(...INVISIBLE))),
    )
    .map((parts) => parts.map(([v, z]) => v + z).join(""));
}

const word = fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/);
const label = fc.stringMatching(/^[a-z0-9]{1,8}$/);
const domain = fc.tuple(label, fc.constantFrom("test", "org", "com", "example")).map(([a, b]) => `${a}.${b}`);
const mxid = fc.tuple(word, fc.oneof(domain, label)).map(([l, d]) => `@${l}:${d}`);
const otherAddress = fc
  .tuple(word, fc.oneof(domain, label))
  .map(([l, d]) => `${l}@${d}`)
  .filter((a) => a !== OWN);
const around = fc.stringMatching(/^[A-Za-z ()]{0,12}$/);

describe("ghost name filter (property)", function () {
  it("refuses every NFKC spelling of a Matrix user ID, with text around it", function () {
    fc.assert(
      fc.property(mxid.chain(spelled), around, around, (shape, before, after) => {
        const name = `${before}${shape}${after}`;
        assert.equal(sanitizeProfileName(name, OWN), undefined, JSON.stringify(name));
        assert.equal(ghostDisplayName(T, OWN, name), `${OWN} (People)`);
      }),
      { numRuns: RUNS },
    );
  });

  it("refuses every NFKC spelling of another People address, with text around it", function () {
    fc.assert(
      fc.property(otherAddress.chain(spelled), around, around, (shape, before, after) => {
        // Text glued to the address changes which address it is, but it is still one that is not the own.
        const name = `${before} ${shape} ${after}`;
        assert.equal(sanitizeProfileName(name, OWN), undefined, JSON.stringify(name));
        assert.equal(ghostDisplayName(T, OWN, name), `${OWN} (People)`);
      }),
      { numRuns: RUNS },
    );
  });

  it("keeps the ghost's own address in its name, however it is spelled", function () {
    fc.assert(
      fc.property(spelled(OWN), around, (shape, before) => {
        const name = `${before} (${shape})`;
        assert.notEqual(sanitizeProfileName(name, OWN), undefined, JSON.stringify(name));
      }),
      { numRuns: RUNS },
    );
  });

  it("never refuses a name without an @ (after NFKC) for its shape", function () {
    fc.assert(
      fc.property(
        fc
          .string({ unit: "grapheme", maxLength: 40 })
          .filter((s) => !/[@\uff20\ufe6b]/.test(s.normalize("NFKC"))),
        (name) => {
          const clean = sanitizeProfileName(name, OWN);
          const visible = name.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\s\u115f\u1160\u3164\uffa0]/gu, "");
          assert.equal(clean === undefined, visible === "", JSON.stringify(name));
        },
      ),
      { numRuns: RUNS },
    );
  });
});
