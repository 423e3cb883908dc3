// Element X / Element Call calls (MatrixRTC: call membership state, the ring notification, a
// decline; per-participant media keys arrive as Olm-encrypted to-device messages). The bridging
// itself is src/bridge/adapters/rtc (RtcCalls: the ghost joins the call over LiveKit, the bridge
// carries the media to a People call); startBridge routes these types to it only with
// bridge.matrixrtc.enabled (on by default) and encryption.allow, else a ring is answered with a notice and the rest ignored.
import { ignored, noticed, type Feature } from "./feature.js";

export const RTC_CALLS_TEXT =
  "Element Call (MatrixRTC) calls to People addresses are not bridged here (the bridge needs encryption.allow and bridge.matrixrtc.enabled).";

export const RTC: Feature = {
  name: "rtc",
  claims: [
    ...noticed("matrix.room", RTC_CALLS_TEXT, "m.rtc.notification", "org.matrix.msc4075.rtc.notification"),
    ...ignored(
      "matrix.room",
      "a group call membership (state); the call's notification is answered with a notice",
      "org.matrix.msc3401.call.member",
    ),
    ...ignored(
      "matrix.room",
      "a decline of a ring: rings from ghosts come only with bridged calls",
      "org.matrix.msc4310.rtc.decline",
    ),
  ],
};
