// Element's 1:1 call events (m.call.*, matrix-js-sdk src/webrtc/call.ts) as
// typed values, and the ghost's events made from People calls. Pure: zod in,
// typed result out; nothing here touches the network.
import { z } from "zod";
import type { CallCandidate, CallLegEvents } from "../core/ports/people-side.js";

/** What a Matrix call event is, once checked. */
export type MatrixCallEvent =
  | {
      kind: "invite";
      callId: string;
      partyId: string | null;
      lifetimeMs: number;
      sdp: string;
      media: "voice" | "video";
    }
  | { kind: "answer"; callId: string; partyId: string | null; sdp: string }
  | { kind: "candidates"; callId: string; partyId: string | null; candidates: CallCandidate[] }
  | { kind: "select_answer"; callId: string; partyId: string | null; selected: string }
  | { kind: "negotiate"; callId: string; partyId: string | null }
  | { kind: "hangup"; callId: string; partyId: string | null; reason: string | undefined }
  | { kind: "reject"; callId: string; partyId: string | null };

export const CALL_EVENT_TYPES = [
  "m.call.invite",
  "m.call.answer",
  "m.call.candidates",
  "m.call.select_answer",
  "m.call.negotiate",
  "m.call.hangup",
  "m.call.reject",
] as const;

/** The longest ring the bridge passes on (matrix-js-sdk rings 60 s). */
export const MAX_LIFETIME_MS = 120_000;
const DEFAULT_LIFETIME_MS = 60_000;
const MAX_SDP = 32_768;

const base = {
  call_id: z.string().min(1).max(255),
  // matrix-js-sdk speaks "1"; version 0 clients send no party id.
  version: z.union([z.literal(0), z.literal("0"), z.literal(1), z.literal("1")]).optional(),
  party_id: z.string().max(255).optional(),
};
const description = (type: "offer" | "answer") =>
  z.object({ type: z.literal(type), sdp: z.string().min(1).max(MAX_SDP) });
const candidate = z.object({
  candidate: z.string().max(1024),
  sdpMid: z.string().max(64).nullish(),
  sdpMLineIndex: z.number().int().min(0).max(255).nullish(),
});

const schemas = {
  "m.call.invite": z.object({
    ...base,
    lifetime: z.number().int().positive().optional(),
    offer: description("offer"),
  }),
  "m.call.answer": z.object({ ...base, answer: description("answer") }),
  "m.call.candidates": z.object({ ...base, candidates: z.array(candidate).min(1).max(64) }),
  "m.call.select_answer": z.object({ ...base, selected_party_id: z.string().min(1).max(255) }),
  "m.call.negotiate": z.object({ ...base }),
  "m.call.hangup": z.object({ ...base, reason: z.string().max(64).optional() }),
  "m.call.reject": z.object({ ...base }),
} as const;

export type CallEventType = keyof typeof schemas;

export function isCallEventType(type: string): type is CallEventType {
  return Object.hasOwn(schemas, type);
}

/** People carries only well-formed candidate lines (PROTOCOL §11.3.1); others are dropped. */
function toPeopleCandidate(c: z.infer<typeof candidate>): CallCandidate | undefined {
  if (c.candidate !== "" && !/^candidate:[\x21-\x7e][\x20-\x7e]*$/.test(c.candidate)) return undefined;
  return {
    candidate: c.candidate,
    ...(c.sdpMid != null ? { mid: c.sdpMid } : {}),
    ...(c.sdpMLineIndex != null ? { index: c.sdpMLineIndex } : {}),
  };
}

/** A Matrix call event checked once, or why it is refused. */
export function parseCallEvent(
  type: string,
  content: unknown,
): { ok: true; event: MatrixCallEvent } | { ok: false; why: string } {
  if (!isCallEventType(type)) return { ok: false, why: `not a call event: ${type}` };
  const parsed = schemas[type].safeParse(content);
  if (!parsed.success)
    return { ok: false, why: `malformed ${type}: ${parsed.error.issues[0]?.message ?? "?"}` };
  const c = parsed.data;
  const head = {
    callId: c.call_id,
    partyId: c.version === 0 || c.version === "0" ? null : (c.party_id ?? null),
  };
  switch (type) {
    case "m.call.invite": {
      const i = c as z.infer<(typeof schemas)["m.call.invite"]>;
      const lifetimeMs = Math.min(i.lifetime ?? DEFAULT_LIFETIME_MS, MAX_LIFETIME_MS);
      const media = /^m=video /m.test(i.offer.sdp) ? "video" : "voice";
      return { ok: true, event: { kind: "invite", ...head, lifetimeMs, sdp: i.offer.sdp, media } };
    }
    case "m.call.answer": {
      const a = c as z.infer<(typeof schemas)["m.call.answer"]>;
      return { ok: true, event: { kind: "answer", ...head, sdp: a.answer.sdp } };
    }
    case "m.call.candidates": {
      const list = (c as z.infer<(typeof schemas)["m.call.candidates"]>).candidates
        .map(toPeopleCandidate)
        .filter((x): x is CallCandidate => x !== undefined);
      return { ok: true, event: { kind: "candidates", ...head, candidates: list } };
    }
    case "m.call.select_answer": {
      const s = c as z.infer<(typeof schemas)["m.call.select_answer"]>;
      return { ok: true, event: { kind: "select_answer", ...head, selected: s.selected_party_id } };
    }
    case "m.call.negotiate":
      return { ok: true, event: { kind: "negotiate", ...head } };
    case "m.call.hangup":
      return {
        ok: true,
        event: { kind: "hangup", ...head, reason: (c as { reason?: string }).reason },
      };
    case "m.call.reject":
      return { ok: true, event: { kind: "reject", ...head } };
  }
}

// --- People → Matrix: the ghost's events ---

type Json = Record<string, unknown>;
const v1 = (callId: string, partyId: string): Json => ({ call_id: callId, party_id: partyId, version: "1" });

export function inviteContent(o: {
  callId: string;
  partyId: string;
  sdp: string;
  lifetimeMs: number;
  invitee: string;
}): Json {
  return {
    ...v1(o.callId, o.partyId),
    lifetime: o.lifetimeMs,
    invitee: o.invitee,
    offer: { type: "offer", sdp: o.sdp },
  };
}

export function answerContent(callId: string, partyId: string, sdp: string): Json {
  return { ...v1(callId, partyId), answer: { type: "answer", sdp } };
}

export function selectAnswerContent(callId: string, partyId: string, selected: string): Json {
  return { ...v1(callId, partyId), selected_party_id: selected };
}

export function candidatesContent(
  callId: string,
  partyId: string,
  candidates: readonly CallCandidate[],
): Json {
  return {
    ...v1(callId, partyId),
    candidates: candidates.map((c) => ({
      candidate: c.candidate,
      ...(c.mid !== undefined ? { sdpMid: c.mid } : {}),
      ...(c.index !== undefined ? { sdpMLineIndex: c.index } : {}),
    })),
  };
}

export function hangupContent(callId: string, partyId: string, reason: string): Json {
  return { ...v1(callId, partyId), reason };
}

export function rejectContent(callId: string, partyId: string): Json {
  return v1(callId, partyId);
}

/** Matrix's hangup reason (CallErrorCode) for how a People call ended. */
export function matrixReason(reason: CallLegEvents["ended"]["reason"]): string {
  switch (reason) {
    case "busy":
      return "user_busy";
    case "timeout":
      return "invite_timeout";
    case "failed":
      return "ice_failed";
    case "answered_elsewhere":
      return "answered_elsewhere";
    default:
      return "user_hangup";
  }
}

/** People's hangup reason for a Matrix one: a timeout, busy, a failure, or the user hanging up. */
export function peopleReason(reason: string | undefined): "normal" | "busy" | "failed" | "timeout" {
  switch (reason) {
    case "invite_timeout":
      return "timeout";
    case "user_busy":
      return "busy";
    case undefined:
    case "user_hangup":
    case "answered_elsewhere":
    case "replaced":
      return "normal";
    default:
      return "failed";
  }
}
