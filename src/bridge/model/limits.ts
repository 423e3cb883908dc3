// Size caps at the bridge's edges. Oversized text is cut with a visible
// marker instead of failing the message: People caps bodies at MAX_TEXT
// UTF-16 units; Matrix caps a whole event at 65,536 bytes of canonical JSON.
import { MAX_TEXT } from "../../people/protocol/messages.js";

export { MAX_TEXT };
export const MAX_HTML = 2 * MAX_TEXT;
/** People's cap on reaction keys and redaction reasons. */
export const MAX_SHORT_TEXT = 256;
/** People's cap on a file name. */
export const MAX_FILE_NAME = 255;
/** Budget for one Matrix event's content, leaving room below 65,536 for the event's envelope. */
export const MAX_MATRIX_CONTENT_BYTES = 60_000;
/** Input past this many UTF-16 units is cut before any parsing, so hostile input costs O(cap). */
export const MAX_INPUT_TEXT = 4 * MAX_TEXT;

export const TRUNCATION_MARKER = " … [truncated]";

export type Measure = (s: string) => number;

/** Length in UTF-16 code units: what People's zod limits count. */
export const utf16Length: Measure = (s) => s.length;

function jsonCodePointBytes(cp: number): number {
  if (cp === 0x22 || cp === 0x5c) return 2; // \" \\
  if (cp < 0x20) return cp === 0x08 || cp === 0x09 || cp === 0x0a || cp === 0x0c || cp === 0x0d ? 2 : 6;
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp >= 0xd800 && cp <= 0xdfff) return 6; // a lone surrogate is written as \udxxx
  return cp < 0x10000 ? 3 : 4;
}

/** Bytes a string takes inside canonical JSON (UTF-8, quotes not counted): what Matrix's event cap counts. */
export const jsonBytes: Measure = (s) => {
  let n = 0;
  for (const ch of s) n += jsonCodePointBytes(ch.codePointAt(0) ?? 0);
  return n;
};

/** The longest prefix of `text` (whole code points) whose measure is at most `max`. */
export function prefixWithin(text: string, max: number, measure: Measure): string {
  if (max <= 0) return "";
  if (measure(text) <= max) return text;
  let used = 0;
  let end = 0;
  for (const ch of text) {
    const cost = measure(ch);
    if (used + cost > max) break;
    used += cost;
    end += ch.length;
  }
  return text.slice(0, end);
}

/** `text` unchanged when it fits, else cut to fit with TRUNCATION_MARKER at the end. */
export function truncateText(text: string, max: number, measure: Measure = utf16Length): string {
  if (measure(text) <= max) return text;
  const room = max - measure(TRUNCATION_MARKER);
  if (room <= 0) return prefixWithin(TRUNCATION_MARKER.trim(), max, measure);
  return prefixWithin(text, room, measure).trimEnd() + TRUNCATION_MARKER;
}

/**
 * A file name fit to travel: the last path segment only, no control
 * characters, at most `max` long with a short extension kept. Undefined when
 * nothing is left.
 */
export function cleanFileName(name: string, max: number = MAX_FILE_NAME): string | undefined {
  const base = (name.split(/[/\\]/).pop() ?? "").replace(/\p{Cc}/gu, "").trim();
  if (base === "" || base === "." || base === "..") return undefined;
  if (base.length <= max) return base;
  const ext = /\.[A-Za-z0-9]{1,10}$/.exec(base)?.[0] ?? "";
  return prefixWithin(base, max - ext.length, utf16Length) + ext;
}
