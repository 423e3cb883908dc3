// The power levels a room needs so that its members can join its MatrixRTC (Element Call) call:
// each device writes its own call membership state event, which under the default state_default
// (50) only moderators may send. Element Web sets these event types to 0 when it creates a room;
// the bridge does the same for the portals it makes. Pure.

/** The call membership state event types Element clients write (MSC3401 as sent today, its stable
 * name, and MSC4143's). */
export const CALL_MEMBER_EVENT_TYPES: readonly string[] = [
  "org.matrix.msc3401.call.member",
  "m.call.member",
  "org.matrix.msc4143.rtc.member",
];

function int(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) ? value : undefined;
}

/**
 * The `m.room.power_levels` content with every call membership type at level 0 (or the members'
 * level when below), or undefined
 * when members (users_default) may already send each of them.
 */
export function withCallMembersAllowed(levels: Record<string, unknown>): Record<string, unknown> | undefined {
  const events =
    levels.events && typeof levels.events === "object" && !Array.isArray(levels.events)
      ? (levels.events as Record<string, unknown>)
      : {};
  const member = int(levels.users_default) ?? 0;
  const stateDefault = int(levels.state_default) ?? 50;
  const missing = CALL_MEMBER_EVENT_TYPES.filter((t) => (int(events[t]) ?? stateDefault) > member);
  if (missing.length === 0) return undefined;
  const next = { ...events };
  // 0 as Element sets it; lower only in a room whose members sit below 0.
  for (const t of missing) next[t] = Math.min(0, member);
  return { ...levels, events: next };
}
