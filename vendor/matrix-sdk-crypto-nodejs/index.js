"use strict";
// The bot-sdk only needs these names to exist when it is loaded; the bridge
// never uses its native crypto (end-to-bridge encryption runs on
// @matrix-org/matrix-sdk-crypto-wasm). Anything that tries to use them fails loudly.
function unavailable(name) {
  return class {
    constructor() {
      throw new Error(
        `@matrix-org/matrix-sdk-crypto-nodejs.${name} is not available in matrix-appservice-people: ` +
          "end-to-bridge encryption uses @matrix-org/matrix-sdk-crypto-wasm",
      );
    }
  };
}
const names = [
  "OlmMachine",
  "UserId",
  "DeviceId",
  "RoomId",
  "DeviceLists",
  "EncryptionSettings",
  "KeysClaimRequest",
  "KeysQueryRequest",
  "KeysUploadRequest",
  "RoomMessageRequest",
  "SignatureUploadRequest",
  "ToDeviceRequest",
  "KeysBackupRequest",
  "DecryptedRoomEvent",
];
for (const n of names) module.exports[n] = unavailable(n);
module.exports.RequestType = Object.freeze({
  KeysUpload: 0,
  KeysQuery: 1,
  KeysClaim: 2,
  ToDevice: 3,
  SignatureUpload: 4,
  RoomMessage: 5,
  KeysBackup: 6,
});
module.exports.StoreType = Object.freeze({ Sled: 0, Sqlite: 1 });
module.exports.HistoryVisibility = Object.freeze({ Invited: 0, Joined: 1, Shared: 2, WorldReadable: 3 });
module.exports.EncryptionAlgorithm = Object.freeze({ OlmV1Curve25519AesSha2: 0, MegolmV1AesSha2: 1 });
module.exports.VerificationState = Object.freeze({ Trusted: 0, Untrusted: 1, UnknownDevice: 2 });
module.exports.SignedCurve25519 = "signed_curve25519";
module.exports.Attachment = unavailable("Attachment");
module.exports.EncryptedAttachment = unavailable("EncryptedAttachment");
