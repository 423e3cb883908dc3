// Matrix locations and polls → People text (People has neither type), and a
// voice message's People fields. Pure; matrix-to-people.ts calls these and
// gives every result its final check.
import type { MessageId } from "../../people/protocol/ids.js";
import { MAX_WAVEFORM, type MessageContent } from "../../people/protocol/messages.js";
import {
  AUDIO_FIELD,
  VOICE_FLAG,
  describeIssue,
  locationContentSchema,
  type MatrixMediaIn,
} from "./matrix-content.js";
import { isMatrixEventId, type MatrixEventId } from "./matrix-ids.js";
import { locationText, parseGeoUri } from "./location.js";
import {
  parsePollStart,
  pollEndFallback,
  pollEndText,
  pollReference,
  pollText,
  tallyPoll,
  type RawRoomEvent,
} from "./polls.js";
import { unbridgeable, type Unbridgeable } from "./unbridgeable.js";

type Text = Extract<MessageContent, { type: "text" }>;

/** What the flow read from the homeserver about a poll: its start and the votes relating to it. */
export interface PollHistory {
  start: RawRoomEvent;
  responses: readonly RawRoomEvent[];
}

/** m.location → a text with the description, the geo URI and an OpenStreetMap link. */
export function locationToPeople(content: unknown, replyTo: MessageId | undefined): Text | Unbridgeable {
  const parsed = locationContentSchema.safeParse(content);
  if (!parsed.success) return unbridgeable("invalid_content", `m.location: ${describeIssue(parsed.error)}`);
  const c = parsed.data;
  const block = c["org.matrix.msc3488.location"];
  const uri = c.geo_uri ?? block?.uri;
  const point = uri === undefined ? undefined : parseGeoUri(uri);
  if (!point) return unbridgeable("invalid_content", "m.location without a valid WGS-84 geo URI");
  // Element's body repeats the URI ("Location geo:… at <time>"): only a body without it describes the place.
  const body = c.body.trim();
  const description =
    block?.description?.trim() ||
    (body !== "" && uri !== undefined && !body.includes(uri) ? body : undefined);
  return {
    type: "text",
    body: locationText({ point, ...(description && { description }) }),
    ...(replyTo && { reply_to: replyTo }),
  };
}

/** A poll's start → a text with the question and the numbered options. */
export function pollStartToPeople(content: unknown): Text | Unbridgeable {
  const poll = parsePollStart(content);
  if (!poll) return unbridgeable("invalid_content", "a poll start without a question and answers");
  return { type: "text", body: pollText(poll) };
}

/**
 * A poll's end → a text with the results, in reply to the poll's text. The
 * results come from the votes the homeserver relates to the poll; when the
 * poll could not be read, the end's own text stands in.
 */
export function pollEndToPeople(
  content: Record<string, unknown>,
  endTs: number | undefined,
  ctx: {
    peopleIdOf(id: MatrixEventId): MessageId | undefined;
    pollOf?(id: MatrixEventId): PollHistory | undefined;
  },
): Text | Unbridgeable {
  const ref = pollReference(content);
  if (ref === undefined || !isMatrixEventId(ref))
    return unbridgeable("invalid_content", "a poll end without its poll");
  const target = ctx.peopleIdOf(ref);
  if (target === undefined) return unbridgeable("unknown_target", "the end of a poll that was not bridged");
  const history = ctx.pollOf?.(ref);
  const poll = history && parsePollStart(history.start.content);
  const body = poll ? pollEndText(poll, tallyPoll(poll, history.responses, endTs)) : pollEndFallback(content);
  return { type: "text", body, reply_to: target };
}

/** What a voice message adds to its attachment: People's kind, waveform and duration. */
export interface Voice {
  shownAs?: "voice" | "sticker";
  waveform?: number[];
  duration_ms?: number;
}

/** At most People's MAX_WAVEFORM amplitudes: a longer waveform keeps each stretch's peak. */
function fitWaveform(w: number[]): number[] {
  if (w.length <= MAX_WAVEFORM) return w;
  const step = w.length / MAX_WAVEFORM;
  return Array.from({ length: MAX_WAVEFORM }, (_, i) =>
    Math.max(...w.slice(Math.floor(i * step), Math.floor((i + 1) * step))),
  );
}

/** An m.audio flagged as a voice message (MSC3245): its kind, and MSC1767's waveform and duration. */
export function voiceOf(c: MatrixMediaIn): Voice {
  if (c.msgtype !== "m.audio" || c[VOICE_FLAG] === undefined) return {};
  const audio = c[AUDIO_FIELD];
  return {
    shownAs: "voice",
    ...(audio?.waveform && { waveform: fitWaveform(audio.waveform) }),
    ...(audio?.duration !== undefined && { duration_ms: audio.duration }),
  };
}
