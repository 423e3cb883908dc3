// The room event types the appservice counts by name in its metrics.

/** Event types counted by name in metrics; others are "other" (types are chosen by senders). */
export const COUNTED_TYPES = new Set([
  "m.room.message",
  "m.room.member",
  "m.room.encrypted",
  "m.reaction",
  "m.room.redaction",
  "m.room.create",
  "m.room.name",
  "m.room.topic",
  "m.room.avatar",
  "m.room.power_levels",
  "m.room.encryption",
  "m.sticker",
  "m.call.invite",
  "m.call.answer",
  "m.call.hangup",
  "m.call.candidates",
]);
