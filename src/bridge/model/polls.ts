// Polls: People has none, so a Matrix poll travels as a text (the question
// and numbered options), a People reply to that text naming an option comes
// back as the ghost's vote, and the poll's end travels as a text with the
// results. Pure: the flows fetch the poll and its votes from the homeserver.
//
// Both namespaces are read: MSC3381's `org.matrix.msc3381.poll.*` (what
// Element sends today) and the stable `m.poll.*`; a vote is written in the
// namespace of the poll it answers.
import { z } from "zod";

export const POLL_START_TYPES = ["m.poll.start", "org.matrix.msc3381.poll.start"] as const;
export const POLL_RESPONSE_TYPES = ["m.poll.response", "org.matrix.msc3381.poll.response"] as const;
export type PollResponseType = (typeof POLL_RESPONSE_TYPES)[number];
export const POLL_END_TYPES = ["m.poll.end", "org.matrix.msc3381.poll.end"] as const;

const UNSTABLE = "org.matrix.msc3381.poll.start";
/** MSC3381: at most 20 answers. */
const MAX_ANSWERS = 20;
const MAX_POLL_TEXT = 1024;

export interface PollAnswer {
  id: string;
  text: string;
}

export interface Poll {
  question: string;
  answers: PollAnswer[];
  maxSelections: number;
  /** Votes are shown while the poll runs (an undisclosed poll shows them at its end). */
  disclosed: boolean;
  /** Written with the stable `m.poll.*` types. */
  stable: boolean;
}

/** A room event as the homeserver returns it, for the poll and its votes. */
export interface RawRoomEvent {
  type: string;
  sender: string;
  content: Record<string, unknown>;
  originServerTs?: number;
}

/** Extensible-events text: a plain string (MSC1767 early form) or `[{body, mimetype?}]`. */
const textBlocks = z.union([
  z.string(),
  z.array(z.object({ body: z.string(), mimetype: z.string().optional() })).min(1),
]);
const textOf = (t: z.infer<typeof textBlocks>): string => {
  if (typeof t === "string") return t;
  return (t.find((b) => b.mimetype === undefined || b.mimetype === "text/plain") ?? t[0]!).body;
};
const cleanText = (s: string) => s.replace(/\s+/g, " ").trim().slice(0, MAX_POLL_TEXT);

const unstableStart = z.object({
  question: z.object({ "org.matrix.msc1767.text": textBlocks.optional(), body: z.string().optional() }),
  kind: z.string().optional(),
  max_selections: z.number().int().min(1).max(MAX_ANSWERS).optional(),
  answers: z
    .array(
      z.object({
        id: z.string().min(1).max(100),
        "org.matrix.msc1767.text": textBlocks.optional(),
        body: z.string().optional(),
      }),
    )
    .min(1)
    .max(MAX_ANSWERS),
});

const stableStart = z.object({
  question: z.object({ "m.text": textBlocks }),
  kind: z.string().optional(),
  max_selections: z.number().int().min(1).max(MAX_ANSWERS).optional(),
  answers: z
    .array(z.object({ "m.id": z.string().min(1).max(100), "m.text": textBlocks }))
    .min(1)
    .max(MAX_ANSWERS),
});

/** The poll a poll start's content describes, or undefined when it is not one. */
export function parsePollStart(content: unknown): Poll | undefined {
  const c = (typeof content === "object" && content !== null ? content : {}) as Record<string, unknown>;
  const stable = stableStart.safeParse(c["m.poll"]);
  let poll: Poll | undefined;
  if (stable.success) {
    const p = stable.data;
    poll = {
      question: cleanText(textOf(p.question["m.text"])),
      answers: p.answers.map((a) => ({ id: a["m.id"], text: cleanText(textOf(a["m.text"])) })),
      maxSelections: p.max_selections ?? 1,
      disclosed: p.kind !== "m.undisclosed",
      stable: true,
    };
  } else {
    const parsed = unstableStart.safeParse(c[UNSTABLE]);
    if (!parsed.success) return undefined;
    const p = parsed.data;
    const text = (t: { "org.matrix.msc1767.text"?: z.infer<typeof textBlocks>; body?: string }) =>
      cleanText(
        t["org.matrix.msc1767.text"] !== undefined ? textOf(t["org.matrix.msc1767.text"]) : (t.body ?? ""),
      );
    poll = {
      question: text(p.question),
      answers: p.answers.map((a) => ({ id: a.id, text: text(a) })),
      maxSelections: p.max_selections ?? 1,
      disclosed: p.kind !== "org.matrix.msc3381.poll.undisclosed",
      stable: false,
    };
  }
  const ids = new Set(poll.answers.map((a) => a.id));
  if (poll.question === "" || ids.size !== poll.answers.length || poll.answers.some((a) => a.text === ""))
    return undefined;
  return { ...poll, maxSelections: Math.min(poll.maxSelections, poll.answers.length) };
}

/** The People text of a poll: the question, the numbered options, and how to answer. */
export function pollText(poll: Poll): string {
  const how =
    poll.maxSelections > 1
      ? `Reply to this message with up to ${poll.maxSelections} numbers or answers, separated by commas.`
      : "Reply to this message with the number or the text of your answer.";
  return [
    `📊 Poll: ${poll.question}`,
    ...poll.answers.map((a, i) => `${i + 1}. ${a.text}`),
    how + (poll.disclosed ? "" : " The results are shown when the poll ends."),
  ].join("\n");
}

const normalize = (s: string) => s.normalize("NFC").replace(/\s+/g, " ").trim().toLowerCase();

/**
 * The answer ids a People reply names: each comma-separated part (one part
 * when the poll allows one choice) is an option's text (case and spacing
 * aside; a text wins over a number, for polls whose options are numbers) or its
 * 1-based number. Undefined when any part names no option, or too many do:
 * the reply is then an ordinary message.
 */
export function matchPollAnswer(poll: Poll, body: string): string[] | undefined {
  if (body.length > 4 * MAX_POLL_TEXT) return undefined;
  const whole = normalize(body);
  if (whole === "") return undefined;
  const byText = (s: string) => poll.answers.find((a) => normalize(a.text) === s);
  const one = (part: string): PollAnswer | undefined => {
    const hit = byText(part);
    if (hit) return hit;
    const n = /^#?([0-9]{1,2})\.?$/.exec(part);
    return n ? poll.answers[Number(n[1]) - 1] : undefined;
  };
  const single = one(whole);
  if (single) return [single.id];
  if (poll.maxSelections < 2) return undefined;
  const ids: string[] = [];
  for (const part of whole.split(",").map((p) => p.trim())) {
    const hit = part === "" ? undefined : one(part);
    if (!hit) return undefined;
    if (!ids.includes(hit.id)) ids.push(hit.id);
  }
  return ids.length <= poll.maxSelections ? ids : undefined;
}

/** The ghost's vote, in the poll's own namespace. */
export function pollResponse(
  poll: Poll,
  pollEventId: string,
  ids: string[],
): { type: PollResponseType; content: Record<string, unknown> } {
  const rel = { "m.relates_to": { rel_type: "m.reference", event_id: pollEventId } };
  if (poll.stable) return { type: "m.poll.response", content: { "m.selections": ids, ...rel } };
  return {
    type: "org.matrix.msc3381.poll.response",
    content: { "org.matrix.msc3381.poll.response": { answers: ids }, ...rel },
  };
}

const stableSelections = z.object({ "m.selections": z.array(z.string()).max(MAX_ANSWERS * 2) });
const unstableSelections = z.object({
  "org.matrix.msc3381.poll.response": z.object({ answers: z.array(z.string()).max(MAX_ANSWERS * 2) }),
});

/** The answer ids of a vote event, or undefined when it is not one. */
export function parsePollResponse(e: RawRoomEvent): string[] | undefined {
  if (e.type === "m.poll.response") {
    const p = stableSelections.safeParse(e.content);
    return p.success ? p.data["m.selections"] : undefined;
  }
  if (e.type === "org.matrix.msc3381.poll.response") {
    const p = unstableSelections.safeParse(e.content);
    return p.success ? p.data["org.matrix.msc3381.poll.response"].answers : undefined;
  }
  return undefined;
}

/**
 * Votes per answer id, as MSC3381 counts them: each voter's latest vote sent
 * no later than the end; unknown ids dropped and at most max_selections kept;
 * a vote left with no answer is no vote.
 */
export function tallyPoll(poll: Poll, events: readonly RawRoomEvent[], endTs?: number): Map<string, number> {
  const latest = new Map<string, { ts: number; ids: string[] }>();
  for (const e of events) {
    const ids = parsePollResponse(e);
    const ts = e.originServerTs ?? 0;
    if (!ids || (endTs !== undefined && ts > endTs)) continue;
    const prev = latest.get(e.sender);
    if (prev && prev.ts > ts) continue;
    latest.set(e.sender, { ts, ids });
  }
  const known = new Set(poll.answers.map((a) => a.id));
  const counts = new Map(poll.answers.map((a) => [a.id, 0]));
  for (const { ids } of latest.values()) {
    const valid = [...new Set(ids.filter((id) => known.has(id)))].slice(0, poll.maxSelections);
    for (const id of valid) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** The People text of a poll's end: the question and each option's votes. */
export function pollEndText(poll: Poll, counts: ReadonlyMap<string, number>): string {
  const votes = (n: number) => `${n} ${n === 1 ? "vote" : "votes"}`;
  return [
    `📊 Poll ended: ${poll.question}`,
    ...poll.answers.map((a, i) => `${i + 1}. ${a.text}: ${votes(counts.get(a.id) ?? 0)}`),
  ].join("\n");
}

/** The text fallback of a poll's end, when the poll itself cannot be read. */
export function pollEndFallback(content: Record<string, unknown>): string {
  const t = textBlocks.safeParse(content["org.matrix.msc1767.text"] ?? content["m.text"] ?? content.body);
  const text = t.success ? cleanText(textOf(t.data)) : "";
  return `📊 ${text || "The poll has ended."}`;
}

/** The poll a vote or an end refers to (`m.reference`), if it names one. */
export function pollReference(content: Record<string, unknown>): string | undefined {
  const rel = content["m.relates_to"];
  if (typeof rel !== "object" || rel === null) return undefined;
  const { rel_type, event_id } = rel as Record<string, unknown>;
  return rel_type === "m.reference" && typeof event_id === "string" ? event_id : undefined;
}
