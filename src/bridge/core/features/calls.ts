// Calls are not bridged yet: a Matrix call into a portal is answered with a
// notice, a People call offer is told in the portal by the caller's ghost;
// the rest of the signalling follows one of those and is ignored.
import { ignored, noticed, type Feature } from "./feature.js";

export const CALLS_TEXT = "Calls to People addresses are not bridged yet.";
/** Follows the caller's address in the ghost's notice. */
export const PEOPLE_CALL_TEXT = "tried to call you; calls are not bridged yet.";
const FOLLOWS = "call signalling after an invite or offer, which was already answered with a notice";

export const CALLS: Feature = {
  name: "calls",
  claims: [
    ...noticed(
      "matrix.room",
      CALLS_TEXT,
      "m.call.invite",
      "m.rtc.notification",
      "org.matrix.msc4075.rtc.notification",
    ),
    ...ignored(
      "matrix.room",
      FOLLOWS,
      "m.call.candidates",
      "m.call.answer",
      "m.call.hangup",
      "m.call.select_answer",
      "m.call.reject",
      "m.call.negotiate",
    ),
    ...ignored(
      "matrix.room",
      "a group call membership (state); the call's notification is answered with a notice",
      "org.matrix.msc3401.call.member",
    ),
    ...noticed("people", PEOPLE_CALL_TEXT, "rt_offer"),
    ...ignored("people", FOLLOWS, "rt_answer", "rt_candidate", "rt_frame", "rt_hangup"),
  ],
};
