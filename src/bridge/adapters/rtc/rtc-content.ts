// The ghost's MatrixRTC events, as Element Call 0.26 / matrix-js-sdk 43 write them (its
// MembershipManager in "compatibility" mode), and the lines a bridged call leaves in the room
// (what Element X shows for calls). Pure: nothing here touches the network.
import { CALL_MEMBER_TYPE, type LivekitTransport } from "./rtc-events.js";

export { CALL_MEMBER_TYPE };
export const RTC_DECLINE_TYPE = "org.matrix.msc4310.rtc.decline";

/** How long a membership counts without renewal (Element Call's default, 4 h). */
export const MEMBERSHIP_EXPIRES_MS = 4 * 60 * 60_000;

/** The state key of a device's call membership in a room of a current version. */
export function memberStateKey(userId: string, deviceId: string): string {
  return `_${userId}_${deviceId}_m.call`;
}

export function memberContent(o: {
  userId: string;
  deviceId: string;
  focus: LivekitTransport;
  intent: "audio" | "video";
  createdTs: number;
}): Record<string, unknown> {
  return {
    application: "m.call",
    call_id: "",
    scope: "m.room",
    device_id: o.deviceId,
    membershipID: `${o.userId}:${o.deviceId}`,
    expires: MEMBERSHIP_EXPIRES_MS,
    "m.call.intent": o.intent,
    focus_active: { type: "livekit", focus_selection: "oldest_membership" },
    foci_preferred: [o.focus],
    created_ts: o.createdTs,
  };
}

/** The ring for `invitee`, referring to the ghost's membership event. */
export function ringContent(o: {
  invitee: string;
  memberEventId: string;
  intent: "audio" | "video";
  now: number;
  lifetimeMs: number;
}): Record<string, unknown> {
  return {
    "m.mentions": { user_ids: [o.invitee], room: false },
    notification_type: "ring",
    "m.call.intent": o.intent,
    slot_id: "m.call#",
    sender_ts: o.now,
    lifetime: o.lifetimeMs,
    "m.relates_to": { rel_type: "m.reference", event_id: o.memberEventId },
  };
}

/** The callee declines the ring `notificationId` (MSC4310). */
export function declineContent(notificationId: string): Record<string, unknown> {
  return { "m.relates_to": { rel_type: "m.reference", event_id: notificationId } };
}

/** "0:42", "12:05", "1:02:03". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const [h, m, s] = [Math.floor(total / 3600), Math.floor(total / 60) % 60, total % 60];
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** The lines a call leaves in the portal, from the ghost. */
export const rtcLines = {
  ended: (durationMs: number) => `Call ended, ${formatDuration(durationMs)}`,
  missed: (name: string) => `Missed call from ${name}`,
  declined: (name: string) => `${name} declined the call`,
  noAnswer: (name: string) => `${name} did not answer`,
  failed: (name: string) => `The call with ${name} could not be connected`,
  youDeclined: "Call declined",
  /** An answered call a crash cut: how long it ran is not known. */
  cut: "Call ended",
  cancelled: "Call cancelled",
};

export const RTC_GROUP_TEXT =
  "Element Call calls in group rooms are not bridged: only calls in a direct chat with one People address reach People.";
export const RTC_NO_FOCUS_TEXT =
  "This homeserver advertises no LiveKit server for Element Call (org.matrix.msc4143.rtc_foci in /.well-known/matrix/client): the call cannot be bridged.";
export const RTC_NO_CALLS_TEXT = "This bridge cannot place People calls.";

/** The line for a call a crash cut, found at the next start. */
export function leftoverLine(c: {
  state: "ringing" | "active";
  direction: "to_people" | "to_matrix";
  name: string;
}): string {
  if (c.state === "active") return rtcLines.cut;
  return c.direction === "to_matrix" ? rtcLines.missed(c.name) : rtcLines.failed(c.name);
}
