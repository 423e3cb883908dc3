// A message's text in both forms, normalized for one side's limits: the HTML
// sanitized to Matrix's subset (or dropped when nothing is left of it), a
// plain body derived from the HTML when the sender gave none, and both cut to
// the caps with a visible marker.
import { sanitizeMatrixHtml, truncateHtml } from "./html.js";
import { htmlToPlainText } from "./html-to-text.js";
import { MAX_INPUT_TEXT, truncateText, type Measure } from "./limits.js";

export interface FormattedText {
  body: string;
  html?: string;
}

export interface TextLimits {
  body: number;
  html: number;
  measure: Measure;
}

export function normalizeText(input: { body?: string; html?: string }, limits: TextLimits): FormattedText {
  let body = (input.body ?? "").slice(0, MAX_INPUT_TEXT);
  let html = input.html === undefined ? undefined : sanitizeMatrixHtml(input.html);
  if (html !== undefined && html.trim() === "") html = undefined;
  if (body.trim() === "" && html !== undefined) body = htmlToPlainText(html);
  body = truncateText(body, limits.body, limits.measure);
  if (html !== undefined) html = truncateHtml(html, limits.html, limits.measure);
  return html === undefined ? { body } : { body, html };
}

/**
 * Fit both forms into one byte budget (Matrix's event size): a short body is
 * kept whole and the HTML gets the rest; when both are long the body gets a
 * third. HTML that cannot be cut usefully is dropped; the body always remains.
 */
export function fitBudget(text: FormattedText, budget: number, measure: Measure): FormattedText {
  const bodySize = measure(text.body);
  if (text.html === undefined) return { body: truncateText(text.body, budget, measure) };
  const htmlSize = measure(text.html);
  if (bodySize + htmlSize <= budget) return text;
  const body = truncateText(text.body, Math.max(budget - htmlSize, Math.floor(budget / 3)), measure);
  const html = truncateHtml(text.html, budget - measure(body), measure);
  return html === undefined ? { body } : { body, html };
}
