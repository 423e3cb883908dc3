// The homeserver requests an OlmMachine asks for, sent as its identity, and Olm-encrypted
// to-device messages built from its sessions: kept out of olm-identity.ts, which owns the
// locking and saving around them.
import {
  DeviceId,
  KeysClaimRequest,
  KeysQueryRequest,
  KeysUploadRequest,
  RoomMessageRequest,
  SignatureUploadRequest,
  ToDeviceRequest,
  UserId,
  type OlmMachine,
  type RequestType,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import { randomBytes } from "node:crypto";
import { enc, type As, type MatrixRequests } from "./matrix-requests.js";
import type { Json } from "./transaction-extensions.js";

export type MachineRequest =
  | KeysUploadRequest
  | KeysQueryRequest
  | KeysClaimRequest
  | ToDeviceRequest
  | SignatureUploadRequest
  | RoomMessageRequest
  | { type: RequestType; id?: string };

/** Sends one request; undefined for a kind the bridge does not send (key backup). */
export async function sendMachineRequest(
  http: MatrixRequests,
  as: As,
  r: MachineRequest,
): Promise<Json | undefined> {
  if (r instanceof KeysUploadRequest)
    return http.request("POST", "/_matrix/client/v3/keys/upload", as, r.body);
  if (r instanceof KeysQueryRequest) return http.request("POST", "/_matrix/client/v3/keys/query", as, r.body);
  if (r instanceof KeysClaimRequest) return http.request("POST", "/_matrix/client/v3/keys/claim", as, r.body);
  if (r instanceof ToDeviceRequest)
    return http.request(
      "PUT",
      `/_matrix/client/v3/sendToDevice/${enc(r.event_type)}/${enc(r.txn_id)}`,
      as,
      r.body,
    );
  if (r instanceof SignatureUploadRequest)
    return http.request("POST", "/_matrix/client/v3/keys/signatures/upload", as, r.body);
  if (r instanceof RoomMessageRequest)
    return http.request(
      "PUT",
      `/_matrix/client/v3/rooms/${enc(r.room_id)}/send/${enc(r.event_type)}/${enc(r.txn_id)}`,
      as,
      r.body,
    );
  return undefined;
}

/**
 * The `messages` of PUT /sendToDevice/m.room.encrypted: `content` as `type`, Olm-encrypted for
 * each device (sessions must exist); a device the machine does not know goes to `unknown`.
 */
export async function encryptedToDevice(
  machine: OlmMachine,
  targets: readonly { userId: string; deviceId: string }[],
  type: string,
  content: Json,
): Promise<{ messages: Record<string, Record<string, unknown>>; unknown: string[] }> {
  const messages: Record<string, Record<string, unknown>> = {};
  const unknown: string[] = [];
  for (const t of targets) {
    const device = await machine.getDevice(new UserId(t.userId), new DeviceId(t.deviceId));
    if (!device) {
      unknown.push(`${t.userId}:${t.deviceId}`);
      continue;
    }
    try {
      (messages[t.userId] ??= {})[t.deviceId] = JSON.parse(
        await device.encryptToDeviceEvent(type, content),
      ) as unknown;
    } finally {
      device.free();
    }
  }
  return { messages, unknown };
}

export const randomTxn = (): string => `people-${randomBytes(12).toString("hex")}`;
