// Element's 1:1 calls (m.call.*) bridged to People calls in DM portals, both
// ways, signalling only (src/bridge/calls): the Matrix client's SDP goes to
// the People device and the device's comes back, media flows between them.
// The calls feature carries its types in its own flow: the Matrix events are
// taken before the portals (bridge.ts), the People rt_* messages by the
// accounts' own-flow handler. A call in a group room is answered there with a
// notice. MatrixRTC (Element X) ringing is answered with a notice until the
// rtc feature takes it.
import { bridged, ignored, noticed, type Feature } from "./feature.js";

export const RTC_CALLS_TEXT = "Element Call (MatrixRTC) calls to People addresses are not bridged yet.";

export const CALLS: Feature = {
  name: "calls",
  ownFlow: true,
  claims: [
    ...bridged(
      "matrix.room",
      "m.call.invite",
      "m.call.candidates",
      "m.call.answer",
      "m.call.hangup",
      "m.call.select_answer",
      "m.call.reject",
      "m.call.negotiate",
    ),
    ...noticed("matrix.room", RTC_CALLS_TEXT, "m.rtc.notification", "org.matrix.msc4075.rtc.notification"),
    ...ignored(
      "matrix.room",
      "a group call membership (state); the call's notification is answered with a notice",
      "org.matrix.msc3401.call.member",
    ),
    // rt_answer and rt_candidate drive a call the account's calls manager holds (the leg's events).
    ...bridged("people", "rt_offer", "rt_answer", "rt_candidate", "rt_hangup"),
    ...ignored("people", "a frame of a data session: data sessions are not bridged", "rt_frame"),
  ],
};
