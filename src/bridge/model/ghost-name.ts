// A ghost's Matrix display name from a People profile's name, through the
// admin's template (bridge.displayname_template, like mautrix's
// displayname_template): "{displayname} (People)" makes "Joe Smith (People)",
// or "joe@example.com (People)" when Joe published no name.
//
// The profile's name is someone else's text shown in every room the ghost is
// in, so it is cleaned first: controls, format characters (bidi overrides and
// isolates, zero-width characters) and line breaks go, whitespace runs become
// one space, and it is cut to MAX_NAME code points. A name that contains a
// Matrix user ID (`@mallory:example.org`) or a People address other than the
// ghost's own (`joe@other.test`) is not used at all: it could pass for that
// user (or that address's ghost, named after its address) in a member list or
// a mention. The check reads the name NFKC-normalized, with the few look-alikes
// of `@`, `:` and `.` that NFKC keeps apart folded too, so full-width
// (`＠alice：localhost`) and other compatibility forms are caught; the name
// shown is the cleaned original.

/** Code points kept of a profile's name (People allows 128 UTF-16 units). */
export const MAX_NAME = 64;
/** Synapse refuses display names longer than this. */
export const MAX_DISPLAY_NAME = 256;
export const DEFAULT_DISPLAYNAME_TEMPLATE = "{displayname} (People)";

const PLACEHOLDER = /\{([a-z_]*)\}/g;
const PLACEHOLDERS = new Set(["displayname", "address"]);

// Controls, format characters (includes U+200B–U+200F, U+202A–U+202E, U+2060–U+2069, U+FEFF),
// line and paragraph separators, and the Hangul fillers that render as blanks.
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u115f\u1160\u3164\uffa0]/gu;
// Checked on the folded text (foldForCheck): a Matrix user ID, and a People address (`local@domain`).
const LOOKS_LIKE_MXID = /@[^\s:@]+:[\p{L}\p{N}[\]-]/u;
const LOOKS_LIKE_ADDRESS = /[\p{L}\p{N}._-]+@[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*/gu;
// Look-alikes NFKC does not map: of ":" (ratio, modifier and Hebrew/Syriac/Mongolian colons, the
// vertical form), of "." (ideographic and halfwidth ideographic full stops), of "@" (none known).
const COLON_LIKE = /[\u2236\ua789\u02d0\u02f8\u05c3\u0703\u0704\u1804\ufe13]/gu;
const DOT_LIKE = /[\u3002\uff61]/gu;

/** The text the shape checks read: NFKC, look-alike separators folded, lower case. */
export function foldForCheck(text: string): string {
  return text
    .normalize("NFKC")
    .replace(UNSAFE, "")
    .replace(COLON_LIKE, ":")
    .replace(DOT_LIKE, ".")
    .toLowerCase();
}

/**
 * True when the (cleaned) name could pass for someone else: it holds a Matrix
 * user ID, or a People address other than `own` (the ghost's own address).
 */
export function posesAsSomeoneElse(name: string, own?: string): boolean {
  const folded = foldForCheck(name);
  if (LOOKS_LIKE_MXID.test(folded)) return true;
  const self = own === undefined ? undefined : foldForCheck(own);
  for (const m of folded.matchAll(LOOKS_LIKE_ADDRESS)) if (m[0] !== self) return true;
  return false;
}

/** Why a template is unusable, or undefined when it is fine (config validation). */
export function templateProblem(template: string): string | undefined {
  const names = [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
  const unknown = names.find((n) => !PLACEHOLDERS.has(n));
  if (unknown !== undefined) return `unknown placeholder {${unknown}} (use {displayname} or {address})`;
  if (names.length === 0) return "must contain {displayname} or {address}";
  if (template.replace(UNSAFE, "") !== template) return "must not contain control or format characters";
  if (template.replace(PLACEHOLDER, "").length > 64) return "the text around the placeholders is too long";
  return undefined;
}

/**
 * The profile's name made safe to show, or undefined when nothing usable is
 * left or it poses as someone else (`own`: the ghost's address, which its
 * name may show).
 */
export function sanitizeProfileName(name: string | undefined, own?: string): string | undefined {
  if (name === undefined) return undefined;
  // U+FEFF is a format character to remove, though JavaScript's \s matches it.
  const clean = name
    .replace(/\ufeff/gu, "")
    .replace(/\s+/gu, " ")
    .replace(UNSAFE, "")
    .replace(/\s+/gu, " ")
    .trim();
  if (clean === "" || posesAsSomeoneElse(clean, own)) return undefined;
  const points = [...clean];
  return points.length <= MAX_NAME
    ? clean
    : `${points
        .slice(0, MAX_NAME - 1)
        .join("")
        .trimEnd()}…`;
}

/** The ghost's display name: the template filled with the cleaned name (or the address). */
export function ghostDisplayName(template: string, address: string, profileName?: string): string {
  const name = sanitizeProfileName(profileName, address) ?? address;
  const out = template.replace(PLACEHOLDER, (_, key: string) => (key === "address" ? address : name)).trim();
  const points = [...out];
  return points.length <= MAX_DISPLAY_NAME ? out : points.slice(0, MAX_DISPLAY_NAME).join("");
}
