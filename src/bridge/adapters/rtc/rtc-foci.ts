// Where the homeserver's Element Call media goes: the LiveKit focus it advertises in
// /.well-known/matrix/client (org.matrix.msc4143.rtc_foci), the same place Element X looks.
// The bridge needs no config of its own for it.
import { z } from "zod";
import { LivekitTransport, type Parsed } from "./rtc-events.js";

const WellKnown = z.looseObject({
  "org.matrix.msc4143.rtc_foci": z.array(z.looseObject({ type: z.string().max(64) })).max(16),
});

/** The first LiveKit focus of a well-known document. */
export function livekitFocusOf(wellKnown: unknown): Parsed<LivekitTransport> {
  const r = WellKnown.safeParse(wellKnown);
  if (!r.success) return { ok: false, reason: "the homeserver advertises no org.matrix.msc4143.rtc_foci" };
  for (const focus of r.data["org.matrix.msc4143.rtc_foci"]) {
    const t = LivekitTransport.safeParse(focus);
    if (t.success) return { ok: true, value: t.data };
  }
  return { ok: false, reason: "no usable livekit focus in org.matrix.msc4143.rtc_foci" };
}

/** The identity LiveKit knows a legacy call member by (lk-jwt-service and Element Call agree on it). */
export function livekitIdentity(userId: string, deviceId: string): string {
  return `${userId}:${deviceId}`;
}
