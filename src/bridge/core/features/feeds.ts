// People posts in Matrix (issue 10): a followed address's posts in a feed room
// (src/bridge/feeds). A post notice makes the feed room of its author read the
// author's feed; the posts themselves are read from the feed, not from
// messages. Replies and reactions in a feed room are m.room.message and
// m.reaction, owned by the messages feature; the feed service takes those of
// its own rooms first (bridge.ts), so a feed room's events never reach a portal.
// Post rooms (`group create`, "My public posts") are taken the same way: there the
// owner's messages, edits, redactions, room name and ghost invites/kicks are posts and
// post group changes (src/bridge/feeds/post-room-events.ts), not portal messages.
import { bridged, ignored, type Feature } from "./feature.js";

export const FEEDS: Feature = {
  name: "feeds",
  ownFlow: true,
  claims: [
    ...bridged("people", "post_notice"),
    // Stored by the People client as it arrives; one from the owner's other device also renames,
    // re-topics or repictures the group's room (feeds/post-room-details.ts). Others change nothing here.
    ...bridged("people", "group_key"),
    ...ignored(
      "people",
      "a reaction to a Matrix user's post: not shown in Matrix yet (the post rooms show posts, not answers)",
      "post_reaction",
    ),
  ],
};
