// What a Matrix event points at, for the Matrix → People flow's lookups.
import type { RoomEvent } from "../core/ports/matrix-side.js";
import type { Unbridgeable } from "../model/unbridgeable.js";

type Json = Record<string, unknown>;

function relatesTo(content: Json): Json | undefined {
  const rel = content["m.relates_to"];
  return rel && typeof rel === "object" && !Array.isArray(rel) ? (rel as Json) : undefined;
}

/** Every event id the event points at: relation target, reply target, redacted event. */
export function referencedEvents(event: RoomEvent): string[] {
  const ids: unknown[] = [event.redacts, event.content.redacts];
  const rel = relatesTo(event.content);
  if (rel) {
    ids.push(rel.event_id);
    const reply = rel["m.in_reply_to"];
    if (reply && typeof reply === "object") ids.push((reply as Json).event_id);
  }
  return ids.filter((id): id is string => typeof id === "string");
}

/** Edits and redactions may only name the sender's own messages; replies and reactions any. */
export function ownTargetsOnly(event: RoomEvent): boolean {
  return event.type === "m.room.redaction" || relatesTo(event.content)?.rel_type === "m.replace";
}

/** Not worth a notice: a redaction of something that never reached People. */
export function quiet(event: RoomEvent, u: Unbridgeable): boolean {
  return event.type === "m.room.redaction" && u.reason === "unknown_target";
}
