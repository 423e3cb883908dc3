// What the bot says: plain text with `code` spans, sent as m.notice with an
// HTML rendering for clients that show formatting.

export interface Notice {
  /** Plain text; `backticks` mark code, lines are separated by \n. */
  text: string;
}

export function notice(...lines: string[]): Notice {
  return { text: lines.join("\n") };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The Matrix content of a notice: body, and formatted_body with <code> and <br>. */
export function noticeContent(n: Notice): Record<string, unknown> {
  const html = n.text
    .split("\n")
    .map((line) =>
      line
        .split("`")
        .map((part, i) => (i % 2 === 1 ? `<code>${escapeHtml(part)}</code>` : escapeHtml(part)))
        .join(""),
    )
    .join("<br>");
  return { msgtype: "m.notice", body: n.text, format: "org.matrix.custom.html", formatted_body: html };
}

/** A notice in reply to `eventId` (a Matrix reply without fallback, as the current spec has it). */
export function noticeReplyContent(n: Notice, eventId: string): Record<string, unknown> {
  return { ...noticeContent(n), "m.relates_to": { "m.in_reply_to": { event_id: eventId } } };
}
