// People addresses: `local@domain`, e-mail shaped. parseAddress is the one
// gate every edge (HTTP, bridge, config, CLI) goes through, so everything
// past it can compare canonical strings with `===`.

import { domainToASCII, domainToUnicode } from "node:url";
import { PeopleError, type ErrorCode } from "../errors.js";

export type PeopleAddress = string & { readonly __brand: "PeopleAddress" };

/** Hard cap checked before any other work, so hostile input costs O(cap). */
export const MAX_INPUT_LENGTH = 1024;
const MAX_ADDRESS = 254;
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;
const MAX_LABEL = 63;

function bad(detail: string): never {
  throw new PeopleError("PEOPLE_BAD_ADDRESS", detail);
}

/** Name one offending character without echoing the input around it. */
function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  if (cp > 0x20 && cp < 0x7f) return `'${ch}'`;
  return `U+${cp.toString(16).toUpperCase().padStart(4, "0")}`;
}

const isAlnum = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39);

/** Local part: a strict, case-folded alphabet; no quoting, no `+` tags. */
function canonicalLocal(local: string): string {
  if (local.length === 0) bad("local part is empty");
  if (local.length > MAX_LOCAL) bad(`local part longer than ${MAX_LOCAL} characters`);
  let out = "";
  for (const ch of local) {
    let c = ch.codePointAt(0) ?? 0;
    if (c >= 0x41 && c <= 0x5a) c += 0x20; // fold ASCII only: 'K' (Kelvin) must not become 'k'
    if (!isAlnum(c) && c !== 0x2e && c !== 0x5f && c !== 0x2d) {
      bad(
        c <= 0x20 || c === 0x7f
          ? "local part contains whitespace or a control character"
          : `local part contains ${describeChar(ch)}`,
      );
    }
    out += String.fromCharCode(c);
  }
  if (!isAlnum(out.charCodeAt(0)) || !isAlnum(out.charCodeAt(out.length - 1))) {
    bad("local part must start and end with a letter or digit");
  }
  if (out.includes("..")) bad("local part contains '..'");
  return out;
}

// Scripts we name; a letter in none of them counts as "Other". Digits,
// hyphen, emoji and combining marks are Common/Inherited and are ignored.
const SCRIPTS = (
  "Latin Cyrillic Greek Armenian Georgian Hebrew Arabic Syriac Thaana Devanagari Bengali " +
  "Gurmukhi Gujarati Oriya Tamil Telugu Kannada Malayalam Sinhala Thai Lao Tibetan Myanmar Khmer Ethiopic Cherokee " +
  "Mongolian Canadian_Aboriginal Tifinagh Han Hiragana Katakana Hangul Bopomofo"
)
  .split(" ")
  .map((name) => [name, new RegExp(`^\\p{Script=${name}}$`, "u")] as const);
const NEUTRAL = /^[\p{Script=Common}\p{Script=Inherited}]$/u;

// UTS #39 "highly restrictive" style: one script per label, except the CJK
// writing systems that are really used together.
const ALLOWED_MIXES = [new Set(["Han", "Hiragana", "Katakana"]), new Set(["Han", "Hangul"])];

// Whole-script confusables, table-based (not the full Unicode confusables
// data): lowercase Cyrillic/Greek letters that render like Latin letters.
// A label built only from these spoofs an ASCII name (e.g. "аррӏе").
const LOOKALIKES: Record<string, Set<string>> = {
  Cyrillic: new Set("аеорсухіјѕԁԛԝһӏүѵ"),
  Greek: new Set("οανρτικυχγε"),
};

function scriptOf(ch: string): string | undefined {
  if (NEUTRAL.test(ch)) return undefined;
  for (const [name, re] of SCRIPTS) if (re.test(ch)) return name;
  return "Other";
}

/** Reject labels that mix scripts or spoof Latin with a whole other script. */
function checkLabelScripts(label: string): void {
  const scripts: string[] = [];
  for (const ch of label) {
    const s = scriptOf(ch);
    if (s !== undefined && !scripts.includes(s)) scripts.push(s);
  }
  if (scripts.length > 1 && !ALLOWED_MIXES.some((mix) => scripts.every((s) => mix.has(s)))) {
    bad(`mixed scripts in domain label: ${scripts.join(" and ")}`);
  }
  const table = scripts.length === 1 ? LOOKALIKES[scripts[0]!] : undefined;
  if (table && [...label].every((ch) => scriptOf(ch) === undefined || table.has(ch))) {
    bad(`domain label is all ${scripts[0]} letters that look like Latin (whole-script confusable)`);
  }
}

// WHATWG's host parser (behind domainToASCII) percent-decodes, stops at '/'
// and parses IPv4, so only letters, digits, '-' and '.' may reach it in ASCII.
const ASCII_OK = /^[A-Za-z0-9.-]$/;
const INVISIBLE = /^[\p{White_Space}\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\p{Cs}]$/u;
const DOTS = /[.\u3002\uFF0E\uFF61]/;
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/i;
const LABEL_OK = /^[a-z0-9-]+$/;

/** Domain: IDNA to lowercase A-labels, then DNS rules, then script checks. */
function canonicalDomain(domain: string): string {
  if (domain.length === 0) bad("domain is empty");
  if (domain.startsWith("[") || domain.includes(":")) bad("domain is an IP address literal");
  for (const ch of domain) {
    if (ch.charCodeAt(0) < 0x80 ? !ASCII_OK.test(ch) : INVISIBLE.test(ch))
      bad(`domain contains ${describeChar(ch)}`);
  }
  const labelsIn = domain.split(DOTS);
  if (NUMERIC_LABEL.test(labelsIn[labelsIn.length - 1] ?? "")) bad("domain is an IP address literal");
  let ascii: string;
  try {
    ascii = domainToASCII(domain.normalize("NFC"));
  } catch {
    ascii = "";
  }
  if (ascii === "") bad("domain is not valid IDNA");
  if (ascii.endsWith(".")) bad("domain ends with a dot");
  if (/^\d+\.\d+\.\d+\.\d+$/.test(ascii)) bad("domain is an IP address literal");
  if (ascii.length > MAX_DOMAIN) bad(`domain longer than ${MAX_DOMAIN} octets`);
  const labels = ascii.split(".");
  if (labels.length < 2 && ascii !== "localhost") bad("domain needs a dot (or must be localhost)");
  for (const label of labels) {
    if (label.length === 0) bad("domain has an empty label");
    if (label.length > MAX_LABEL) bad(`domain label longer than ${MAX_LABEL} octets`);
    if (!LABEL_OK.test(label)) bad("domain label contains a character other than a-z, 0-9, '-'");
    if (label.startsWith("-") || label.endsWith("-")) bad("domain label starts or ends with '-'");
    if (label.slice(2, 4) === "--" && !label.startsWith("xn--"))
      bad("domain label has '--' at positions 3-4 but is not xn--");
  }
  // Check scripts on the decoded form, so "xn--..." input cannot skip them.
  for (const label of domainToUnicode(ascii).split(".")) checkLabelScripts(label);
  return ascii;
}

// parseAddress is pure and the same few addresses come back on every message
// (IDNA and script checks cost more than the rest of a message's parsing), so
// accepted inputs are remembered; the table is simply emptied when full.
const accepted = new Map<string, PeopleAddress>();
const ACCEPTED_MAX = 10_000;

/** The one parse function: returns the canonical address or throws PEOPLE_BAD_ADDRESS. */
export function parseAddress(input: string): PeopleAddress {
  if (typeof input !== "string") bad("address is not a string");
  const known = accepted.get(input);
  if (known !== undefined) return known;
  const parsed = parseUncached(input);
  if (accepted.size >= ACCEPTED_MAX) accepted.clear();
  accepted.set(input, parsed);
  return parsed;
}

function parseUncached(input: string): PeopleAddress {
  if (input.length > MAX_INPUT_LENGTH) bad(`input longer than ${MAX_INPUT_LENGTH} characters`);
  const at = input.indexOf("@");
  if (at < 0) bad("missing '@'");
  if (input.indexOf("@", at + 1) >= 0) bad("more than one '@'");
  const local = canonicalLocal(input.slice(0, at));
  const domain = canonicalDomain(input.slice(at + 1));
  const out = `${local}@${domain}`;
  if (out.length > MAX_ADDRESS) bad(`address longer than ${MAX_ADDRESS} octets`);
  return out as PeopleAddress;
}

export function isPeopleAddress(s: string): s is PeopleAddress {
  try {
    return parseAddress(s) === s;
  } catch {
    return false;
  }
}

export function formatAddress(a: PeopleAddress): string {
  return a;
}

export function addressLocal(a: PeopleAddress): string {
  return a.slice(0, a.indexOf("@"));
}

/** The domain in A-label (ASCII) form, as used for DNS and server lookup. */
export function addressDomain(a: PeopleAddress): string {
  return a.slice(a.indexOf("@") + 1);
}

export function addressesEqual(a: PeopleAddress, b: PeopleAddress): boolean {
  return a === b;
}

/** For humans only: the domain back in Unicode. Never parse or compare this. */
export function displayAddress(a: PeopleAddress): string {
  return `${addressLocal(a)}@${domainToUnicode(addressDomain(a))}`;
}

/**
 * For addresses inside signed or sealed data: they must already be canonical
 * (a signature over a non-canonical spelling could be read two ways), and a
 * bad one is reported as the enclosing structure's error.
 */
export function parseCanonicalAddress(input: unknown, code: ErrorCode): PeopleAddress {
  if (typeof input !== "string") throw new PeopleError(code, "address is not a string");
  let address: PeopleAddress;
  try {
    address = parseAddress(input);
  } catch (cause) {
    throw new PeopleError(code, "invalid address", { cause });
  }
  if (address !== input) throw new PeopleError(code, "address is not in canonical form");
  return address;
}
