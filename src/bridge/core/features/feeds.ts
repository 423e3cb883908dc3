// People posts (feeds) are not bridged yet (issue 10, part 2): a post notice
// is set aside with a debug line.
import { ignored, type Feature } from "./feature.js";

export const FEEDS: Feature = {
  name: "feeds",
  claims: [...ignored("people", "a post notice: feeds are not bridged yet", "post_notice")],
};
