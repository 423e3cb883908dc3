// Trust: key-change notices in the portals and the `trust` commands
// (portals/key-change-notices.ts, trust-commands.ts). The People messages that
// feed it are checked by the People client, which reports a key change.
import { ignored, type Feature } from "./feature.js";

export const TRUST: Feature = {
  name: "trust",
  claims: [
    ...ignored(
      "people",
      "an address move: the People client checks it against the pinned key and reports a key change",
      "move_notice",
    ),
    ...ignored(
      "people",
      "a delivery token: kept by the People client for sending to this address, never a message",
      "delivery_token",
    ),
    ...ignored(
      "people",
      "linking the account's own devices: the bridge's accounts have one device and link none",
      "device_link",
    ),
  ],
};
