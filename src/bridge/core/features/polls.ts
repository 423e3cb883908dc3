// Polls have no People form: starting one in a portal is answered with a
// notice; answers and ends of polls follow a start that was already answered.
import { ignored, noticed, type Feature } from "./feature.js";

export const POLLS_TEXT =
  "Polls cannot be sent to People yet; write the question and its options as a message.";
const FOLLOWS = "answers or ends a poll, and the poll's start was already answered with a notice";

export const POLLS: Feature = {
  name: "polls",
  claims: [
    ...noticed("matrix.room", POLLS_TEXT, "org.matrix.msc3381.poll.start", "m.poll.start"),
    ...ignored(
      "matrix.room",
      FOLLOWS,
      "org.matrix.msc3381.poll.response",
      "org.matrix.msc3381.poll.end",
      "m.poll.response",
      "m.poll.end",
    ),
  ],
};
