// End-to-bridge encryption: the crypto adapter (crypto/) consumes the
// to-device traffic and decrypts room events before the flows see them. An
// m.room.encrypted that still reaches a portal flow could not be decrypted
// (or encryption is off): its sender is told.
import { ignored, noticed, type Feature } from "./feature.js";

export const ENCRYPTED_PORTAL_TEXT =
  "Encrypted messages cannot be bridged to People yet. Start the chat with the `dm` command " +
  "(its room is not encrypted), or turn encryption off when you create the room.";

const KEYS = "key traffic: consumed by the crypto adapter (crypto/), never a message";
const VERIFY = "the bridge's devices are not verified interactively; nothing is shown to People";
/** The steps of an interactive verification after its request (to-device, or in a room). */
const VERIFICATION_STEPS = [
  "m.key.verification.ready",
  "m.key.verification.start",
  "m.key.verification.accept",
  "m.key.verification.key",
  "m.key.verification.mac",
  "m.key.verification.done",
  "m.key.verification.cancel",
];

export const ENCRYPTION: Feature = {
  name: "encryption",
  claims: [
    ...noticed("matrix.room", ENCRYPTED_PORTAL_TEXT, "m.room.encrypted"),
    ...ignored(
      "matrix.room",
      "turning encryption on is handled by the crypto adapter, not sent to People",
      "m.room.encryption",
    ),
    ...ignored(
      "matrix.to_device",
      KEYS,
      "m.room_key",
      "m.room.encrypted",
      "m.forwarded_room_key",
      "m.room_key_request",
      "m.room_key.withheld",
      "m.dummy",
      "m.secret.request",
      "m.secret.send",
    ),
    ...ignored("matrix.to_device", VERIFY, "m.key.verification.request", ...VERIFICATION_STEPS),
    ...ignored("matrix.msgtype", VERIFY, "m.key.verification.request"),
    ...ignored("matrix.room", VERIFY, ...VERIFICATION_STEPS),
  ],
};
