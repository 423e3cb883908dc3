// A ghost's Matrix display name from a People profile's name, through the
// admin's template (bridge.displayname_template, like mautrix's
// displayname_template): "{displayname} (People)" makes "Joe Smith (People)",
// or "joe@example.com (People)" when Joe published no name.
//
// The profile's name is someone else's text shown in every room the ghost is
// in, so it is cleaned first: controls, format characters (bidi overrides and
// isolates, zero-width characters) and line breaks go, whitespace runs become
// one space, and it is cut to MAX_NAME code points. A name that contains a
// Matrix user ID (`@mallory:example.org`) is not used at all: it could pass
// for that user in a member list or a mention.

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
const LOOKS_LIKE_MXID = /@[^\s:@]+:[A-Za-z0-9[\]-]/;

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

/** The profile's name made safe to show, or undefined when nothing usable is left. */
export function sanitizeProfileName(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const clean = name.replace(/\s+/gu, " ").replace(UNSAFE, "").replace(/\s+/gu, " ").trim();
  if (clean === "" || LOOKS_LIKE_MXID.test(clean)) return undefined;
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
  const name = sanitizeProfileName(profileName) ?? address;
  const out = template.replace(PLACEHOLDER, (_, key: string) => (key === "address" ? address : name)).trim();
  const points = [...out];
  return points.length <= MAX_DISPLAY_NAME ? out : points.slice(0, MAX_DISPLAY_NAME).join("");
}
