// A readable plain-text rendering of (sanitized) Matrix HTML, for the body
// of a message that came with HTML only. Pure: a string in, a string out.
import { sanitizeMatrixHtml } from "./html.js";

type Attributes = Record<string, string>;

const ENTITY = /&(?:#(\d{1,7})|#x([0-9a-fA-F]{1,6})|(amp|lt|gt|quot|apos|nbsp));/g;
const NAMED: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };

/** Decodes the entities the sanitizer emits (and numeric ones), in one pass. */
function decodeEntities(s: string): string {
  return s.replace(ENTITY, (whole, dec?: string, hex?: string, named?: string) => {
    if (named !== undefined) return NAMED[named] ?? whole;
    const cp = dec !== undefined ? parseInt(dec, 10) : parseInt(hex ?? "", 16);
    return cp > 0 && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : "\ufffd";
  });
}

function attributesOf(tag: string): Attributes {
  const out: Attributes = {};
  for (const m of tag.matchAll(/([a-z-]+)="([^"]*)"/g)) out[m[1]!] = decodeEntities(m[2]!);
  return out;
}

const BLOCKS = new Set("h1 h2 h3 h4 h5 h6 p div table thead tbody tr caption details summary li".split(" "));

/**
 * A readable plain-text rendering (the `body` of a message that only came with
 * HTML): line breaks for blocks, `- `/`1. ` for list items, `> ` for quotes,
 * link targets after their text. Runs on sanitizer output, whose tags and
 * escapes are regular, so a tokenizing regex is exact here.
 */
export function htmlToPlainText(html: string): string {
  const out: string[] = [];
  let atLineStart = true;
  let space = false; // a collapsed space waits until more text follows on the line
  let quote = 0;
  let pre = 0;
  const lists: Array<{ ordered: boolean; n: number }> = [];
  const links: Array<{ href: string; start: number }> = [];
  const write = (s: string): void => {
    if (s === "") return;
    if (atLineStart) out.push("> ".repeat(quote));
    else if (space) out.push(" ");
    atLineStart = space = false;
    out.push(s);
  };
  const newline = (): void => {
    out.push("\n");
    atLineStart = true;
    space = false;
  };
  const ensureBreak = (): void => {
    if (!atLineStart) newline();
  };
  const text = (raw: string): void => {
    const s = decodeEntities(raw);
    if (pre > 0) {
      s.split("\n").forEach((line, i) => {
        if (i > 0) newline();
        write(line);
      });
      return;
    }
    const words = s.split(/\s+/);
    words.forEach((word, i) => {
      if (i > 0) space = true;
      write(word);
    });
  };
  const endLink = (): void => {
    const link = links.pop();
    if (!link || !/^https?:/i.test(link.href) || /^https:\/\/matrix\.to\//i.test(link.href)) return;
    const label = out.slice(link.start).join("").trim();
    if (label === "") write(link.href);
    else if (label !== link.href) write(` (${link.href})`);
  };
  for (const token of sanitizeMatrixHtml(html).split(/(<[^>]*>)/)) {
    const tag = /^<(\/?)([a-z0-9-]+)/.exec(token);
    if (!tag) {
      text(token);
      continue;
    }
    const [, slash, name = ""] = tag;
    const closing = slash === "/";
    if (name === "br") newline();
    else if (name === "hr") {
      ensureBreak();
      write("---");
      newline();
    } else if (name === "blockquote") {
      ensureBreak();
      quote += closing ? -1 : 1;
    } else if (name === "pre") {
      ensureBreak();
      pre += closing ? -1 : 1;
    } else if (name === "ul" || name === "ol") {
      ensureBreak();
      if (closing) lists.pop();
      else lists.push({ ordered: name === "ol", n: Number(attributesOf(token).start ?? 1) });
    } else if (name === "li" && !closing) {
      ensureBreak();
      const list = lists[lists.length - 1];
      write("  ".repeat(Math.max(0, lists.length - 1)) + (list?.ordered ? `${list.n++}.` : "-"));
      space = true;
    } else if ((name === "td" || name === "th") && !closing) {
      space = true;
      if (!atLineStart) write("|");
      space = true;
    } else if (name === "img") {
      write(attributesOf(token).alt || "[image]");
    } else if (name === "a") {
      if (closing) endLink();
      else links.push({ href: attributesOf(token).href ?? "", start: out.length });
    } else if (BLOCKS.has(name)) ensureBreak();
  }
  return out.join("").trim();
}
