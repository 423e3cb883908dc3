// Portal membership: invites of ghosts (a DM portal becoming a group), joins
// and leaves (portal-service.ts, group-membership.ts). People group epoch keys
// are kept by the People client itself.
import { bridged, ignored, type Feature } from "./feature.js";

export const GROUPS: Feature = {
  name: "groups",
  claims: [
    ...bridged("matrix.room", "m.room.member"),
    ...ignored(
      "people",
      "a group epoch key: stored by the People client when it arrives, never a message",
      "group_key",
    ),
  ],
};
