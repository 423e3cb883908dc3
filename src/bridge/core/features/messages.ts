// Messages in DM and group portals, both ways: text, HTML, media, stickers,
// voice messages, locations (as text with a geo URI and a map link), replies,
// edits, reactions, redactions. Carried by the Matrix → People and
// People → Matrix flows (portals/) with the pure converters in model/.
import { bridged, type Feature } from "./feature.js";

export const MESSAGES: Feature = {
  name: "messages",
  claims: [
    ...bridged("matrix.room", "m.room.message", "m.sticker", "m.reaction", "m.room.redaction"),
    ...bridged(
      "matrix.msgtype",
      "m.text",
      "m.notice",
      "m.emote",
      "m.image",
      "m.file",
      "m.audio",
      "m.video",
      "m.location",
    ),
    ...bridged("people", "text", "edit", "reaction", "redaction", "attachment"),
  ],
};
