// Message send status: the bridge reports what became of each Matrix → People
// message (com.beeper.message_send_status, portals/send-status.ts). It only
// sends them; one arriving from Matrix is not carried to People.
import { ignored, type Feature } from "./feature.js";

export const SEND_STATUS: Feature = {
  name: "send-status",
  claims: [
    ...ignored(
      "matrix.room",
      "a delivery report (the bridge sends these itself; People has no such message)",
      "com.beeper.message_send_status",
    ),
  ],
};
