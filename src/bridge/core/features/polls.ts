// Polls, as texts (People has no poll): a poll's start becomes the question
// and its numbered options, its end the results; a People reply to the poll's
// text that names an option becomes the ghost's vote (model/polls.ts). A
// Matrix user's vote stays in Matrix: it is counted in the results the end sends.
import { bridged, ignored, type Feature } from "./feature.js";

const VOTES =
  "a Matrix user's vote: People has no polls to vote in; it is counted in the results sent when the poll ends";

export const POLLS: Feature = {
  name: "polls",
  claims: [
    ...bridged(
      "matrix.room",
      "org.matrix.msc3381.poll.start",
      "m.poll.start",
      "org.matrix.msc3381.poll.end",
      "m.poll.end",
    ),
    ...ignored("matrix.room", VOTES, "org.matrix.msc3381.poll.response", "m.poll.response"),
  ],
};
