// Matrix reply fallbacks. Older clients prefix a reply's plain body with the
// quoted original ("> <@alice:example.org> original", or "> * <@alice…>" for
// an emote) and a blank line, and its HTML with an <mx-reply> block. People
// has real reply references, so the fallback is dropped on the way in (the
// <mx-reply> part is dropped by the HTML sanitizer). Current clients send no
// fallback; a reply that merely starts with a quote of its own is left alone.

const FALLBACK_HEAD = /^> (?:\* )?<[^>\n]+> /;

export function stripPlainReplyFallback(body: string): string {
  if (!FALLBACK_HEAD.test(body)) return body;
  const lines = body.split("\n");
  let i = 0;
  while (i < lines.length && lines[i]!.startsWith(">")) i++;
  if (i < lines.length && lines[i] === "") i++;
  return lines.slice(i).join("\n");
}
