// The portal room's own state, set by the bridge when it makes the room: what
// a Matrix user changes there stays in Matrix.
import { ignored, type Feature } from "./feature.js";

export const ROOMS: Feature = {
  name: "rooms",
  claims: [
    ...ignored(
      "matrix.room",
      "room settings are Matrix's own; People conversations have no such settings",
      "m.room.power_levels",
      "m.room.create",
      "m.room.join_rules",
      "m.room.history_visibility",
      "m.room.guest_access",
      "m.room.canonical_alias",
      "m.room.pinned_events",
      "m.room.server_acl",
      "m.room.tombstone",
    ),
  ],
};
