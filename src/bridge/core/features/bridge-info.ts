// The portals' bridge state events (MSC2346), which the bridge sets itself
// (portals/bridge-state.ts): seen coming back from the homeserver, they are
// the bridge's own label of the room, nothing to carry to People.
import { ignored, type Feature } from "./feature.js";

export const BRIDGE_INFO: Feature = {
  name: "bridge-info",
  claims: [
    ...ignored(
      "matrix.room",
      "the bridge's own state events (MSC2346) naming the network; People has no such thing",
      "m.bridge",
      "uk.half-shot.bridge",
    ),
  ],
};
