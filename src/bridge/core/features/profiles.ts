// Ghost profiles: a ghost's name and avatar follow its People profile
// (ghost-profiles.ts), and a DM portal is named after it. Names and pictures
// set in Matrix stay there.
import { ignored, type Feature } from "./feature.js";

export const PROFILES: Feature = {
  name: "profiles",
  claims: [
    ...ignored(
      "matrix.room",
      "the portal's name, topic and avatar follow the People side; changes in Matrix are not sent to People",
      "m.room.name",
      "m.room.topic",
      "m.room.avatar",
    ),
  ],
};
