// Element's 1:1 calls (m.call.*) bridged to People calls in DM portals, both
// ways, signalling only (src/bridge/calls): the Matrix client's SDP goes to
// the People device and the device's comes back, media flows between them.
// The calls feature carries its types in its own flow: the Matrix events are
// taken before the portals (bridge.ts), the People rt_* messages by the
// accounts' own-flow handler. A call in a group room is answered there with a
// notice. MatrixRTC (Element X) types are the rtc feature's (rtc.ts).
import { bridged, ignored, type Feature } from "./feature.js";

export { RTC_CALLS_TEXT } from "./rtc.js";

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
    // rt_answer and rt_candidate drive a call the account's calls manager holds (the leg's events).
    ...bridged("people", "rt_offer", "rt_answer", "rt_candidate", "rt_hangup"),
    ...ignored("people", "a frame of a data session: data sessions are not bridged", "rt_frame"),
  ],
};
