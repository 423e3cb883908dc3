// HTML at the bridge's edges, in both directions: sanitized to the subset the
// Matrix spec suggests for m.room.message (`org.matrix.custom.html`) and cut
// to a size cap while staying well-formed. Pure: strings in, strings out.
import sanitizeHtml from "sanitize-html";
import { isMxcUri } from "./matrix-ids.js";
import { MAX_INPUT_TEXT, TRUNCATION_MARKER, prefixWithin, type Measure } from "./limits.js";

const ALLOWED_TAGS = [
  ..."h1 h2 h3 h4 h5 h6 font del blockquote p a ul ol sup sub li b i u strong em strike s code hr br div".split(
    " ",
  ),
  ..."table thead tbody tr th td caption pre span img details summary".split(" "),
];

/** Disallowed tags whose content goes too: raw text, metadata, and Matrix reply fallbacks. */
const DROP_WITH_CONTENT = (
  "script style textarea option select xmp noscript noembed noframes iframe object template " +
  "title head svg math mx-reply"
).split(" ");

/** Deeper elements are unwrapped (their text is kept), so renderers never recurse without bound. */
export const MAX_HTML_DEPTH = 100;

const COLOR = /^#[0-9a-fA-F]{6}$/;
const LINK = /^(?:https?|mailto|matrix):/i;
const INTEGER = /^-?\d{1,9}$/;
const DIMENSION = /^\d{1,5}$/;

type Attributes = Record<string, string>;
/** Keeps attribute `name` (trimmed) only when it matches `ok`. */
const keepIf = (attribs: Attributes, name: string, ok: RegExp | ((value: string) => boolean)): void => {
  const value = attribs[name]?.trim();
  if (value === undefined) return;
  if (typeof ok === "function" ? ok(value) : ok.test(value)) attribs[name] = value;
  else delete attribs[name];
};

function colors(tagName: string, attribs: Attributes): sanitizeHtml.Tag {
  for (const name of ["color", "data-mx-color", "data-mx-bg-color"]) keepIf(attribs, name, COLOR);
  return { tagName, attribs };
}

const OPTIONS: sanitizeHtml.IOptions = {
  allowedTags: ALLOWED_TAGS,
  allowedAttributes: {
    font: ["data-mx-bg-color", "data-mx-color", "color"],
    span: ["data-mx-bg-color", "data-mx-color", "data-mx-spoiler", "data-mx-maths"],
    div: ["data-mx-maths"],
    a: ["href", "target"],
    img: ["width", "height", "alt", "title", "src"],
    ol: ["start"],
    code: ["class"],
  },
  allowedClasses: { code: [/^language-[A-Za-z0-9_+#.-]{1,40}$/] },
  allowedSchemes: ["http", "https", "mailto", "matrix"],
  allowedSchemesByTag: { img: ["mxc"] },
  allowedSchemesAppliedToAttributes: ["href", "src"],
  allowProtocolRelative: false,
  parseStyleAttributes: false,
  disallowedTagsMode: "discard",
  nonTextTags: DROP_WITH_CONTENT,
  nestingLimit: MAX_HTML_DEPTH,
  // A link left without an allowed href is unwrapped (its text stays); an image without one goes.
  exclusiveFilter: (frame) => {
    if (frame.tag === "a" && !frame.attribs.href) return "excludeTag";
    return frame.tag === "img" && !frame.attribs.src;
  },
  // Transforms never rename tags nor set `text`: in sanitize-html 2.17 a renamed tag that is
  // then skipped closes a later sibling with the wrong name, and `text` on a filtered frame
  // swallows the text that follows it.
  transformTags: {
    font: colors,
    span: colors,
    a: (tagName, attribs) => {
      keepIf(attribs, "href", LINK);
      keepIf(attribs, "target", /^_blank$/);
      return { tagName, attribs };
    },
    img: (tagName, attribs) => {
      // Only images in a Matrix media repository; exclusiveFilter drops the others.
      keepIf(attribs, "src", isMxcUri);
      keepIf(attribs, "width", DIMENSION);
      keepIf(attribs, "height", DIMENSION);
      return { tagName, attribs };
    },
    ol: (tagName, attribs) => {
      keepIf(attribs, "start", INTEGER);
      return { tagName, attribs };
    },
  },
};

/** HTML reduced to Matrix's allowed subset. Total: any string in, well-formed HTML out. */
export function sanitizeMatrixHtml(html: string): string {
  let out = sanitizeHtml(html.length > MAX_INPUT_TEXT ? html.slice(0, MAX_INPUT_TEXT) : html, OPTIONS);
  // One pass can leave nesting that a parser reads differently the next time
  // (`<p><pre></pre></p>` becomes `<p></p><pre></pre><p></p>`); run to a fixed
  // point so what we send parses back to itself.
  for (let i = 0; i < 3; i++) {
    const again = sanitizeHtml(out, OPTIONS);
    if (again === out) break;
    out = again;
  }
  return out;
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Cut at or before `end` so that no tag, entity or surrogate pair is split. */
function safeCut(html: string, end: number): string {
  let s = html.slice(0, Math.max(0, end));
  if (s.lastIndexOf("<") > s.lastIndexOf(">")) s = s.slice(0, s.lastIndexOf("<"));
  const amp = s.lastIndexOf("&");
  if (amp >= 0 && amp > s.lastIndexOf(";")) s = s.slice(0, amp);
  const last = s.charCodeAt(s.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) s = s.slice(0, -1);
  return s;
}

/**
 * Sanitized HTML that fits `max` (as measured): unchanged when it fits, else
 * cut, re-closed by the sanitizer and ended with the truncation marker.
 * Undefined when no useful prefix fits (the caller then sends plain text).
 */
export function truncateHtml(html: string, max: number, measure: Measure): string | undefined {
  if (measure(html) <= max) return html;
  const marker = escapeHtml(TRUNCATION_MARKER);
  let end = prefixWithin(html, max - measure(marker), measure).length;
  for (let attempt = 0; attempt < 8 && end > 0; attempt++) {
    const piece = safeCut(html, end);
    const candidate = sanitizeMatrixHtml(piece).trimEnd() + marker;
    const size = measure(candidate);
    if (size <= max) return candidate;
    end = piece.length - (size - max);
  }
  return undefined;
}
