// Portal membership: invites of ghosts (a DM portal becoming a group), joins
// and leaves (portal-service.ts, group-membership.ts). People group epoch keys
// are kept by the People client itself.
import { bridged, type Feature } from "./feature.js";

export const GROUPS: Feature = {
  name: "groups",
  // group_key: the feeds feature's (a post group's room follows its details); the People client stores it.
  claims: [...bridged("matrix.room", "m.room.member")],
};
