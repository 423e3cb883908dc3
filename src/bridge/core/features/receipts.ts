// Read receipts and typing, both ways, best effort (never retried), only in
// portals that exist.
import { bridged, ignored, type Feature } from "./feature.js";

export const RECEIPTS: Feature = {
  name: "receipts",
  claims: [
    ...bridged("matrix.ephemeral", "m.receipt", "m.typing"),
    ...ignored(
      "matrix.ephemeral",
      "People has no presence; a Matrix user's online state is not shown there",
      "m.presence",
    ),
    ...bridged("people", "receipt", "typing"),
  ],
};
