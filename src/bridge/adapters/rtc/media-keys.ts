// The ghost's per-participant media key over Olm, as Element Call sends it: the content of
// io.element.call.encryption_keys (matrix-js-sdk ToDeviceKeyTransport), encrypted for each call
// device of the other members by the ghost's own OlmMachine (Device.encryptToDeviceEvent), and
// the keys others sent the ghost, picked from the to-device events its machine decrypted.
import {
  DeviceId,
  ProcessedToDeviceEventType,
  UserId,
  type DecryptedToDeviceEvent,
  type OlmMachine,
  type ProcessedToDeviceEvent,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import { z } from "zod";
import { ENCRYPTION_KEYS_TYPE, parseEncryptionKeys, type MediaKey } from "./rtc-events.js";

/** What Element Call puts in the to-device message; the key is base64 (standard, padded). */
export function mediaKeyContent(o: {
  roomId: string;
  deviceId: string;
  memberId: string;
  index: number;
  key: Uint8Array;
}): Record<string, unknown> {
  return {
    keys: { index: o.index, key: Buffer.from(o.key).toString("base64") },
    room_id: o.roomId,
    member: { claimed_device_id: o.deviceId, id: o.memberId },
    session: { call_id: "", application: "m.call", scope: "m.room" },
    sent_ts: Date.now(),
  };
}

/**
 * The `messages` body of PUT /sendToDevice/m.room.encrypted for the given devices, each copy
 * Olm-encrypted by `machine`. Olm sessions must exist (getMissingSessions and a claim first);
 * a device the machine does not know is skipped and returned in `unknown`.
 */
export async function encryptMediaKey(
  machine: OlmMachine,
  targets: { userId: string; deviceId: string }[],
  content: Record<string, unknown>,
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
      const encrypted = JSON.parse(
        await device.encryptToDeviceEvent(ENCRYPTION_KEYS_TYPE, content),
      ) as unknown;
      (messages[t.userId] ??= {})[t.deviceId] = encrypted;
    } finally {
      device.free();
    }
  }
  return { messages, unknown };
}

const Decrypted = z.object({
  type: z.literal(ENCRYPTION_KEYS_TYPE),
  sender: z.string().max(255),
  content: z.unknown(),
});

/** The media keys among the to-device events a machine processed, each with its sender. */
export function mediaKeysOf(
  processed: ProcessedToDeviceEvent[],
  /** Why a media key was dropped (logged at debug by the wiring). */
  dropped: (why: string) => void = () => undefined,
): (MediaKey & { userId: string })[] {
  const keys: (MediaKey & { userId: string })[] = [];
  for (const p of processed) {
    // Only what arrived Olm-encrypted: a plaintext to-device "key" could come from anyone.
    if (p.type !== ProcessedToDeviceEventType.Decrypted) continue;
    let raw: unknown;
    try {
      raw = JSON.parse((p as DecryptedToDeviceEvent).rawEvent);
    } catch {
      continue;
    }
    const ev = Decrypted.safeParse(raw);
    if (!ev.success) continue;
    const key = parseEncryptionKeys(ev.data.content);
    if (!key.ok) {
      dropped(key.reason);
      continue;
    }
    // The device the key claims to be for must be the one that sent it, when the machine knows it.
    const sentBy = (p as DecryptedToDeviceEvent).encryptionInfo.senderDevice?.toString();
    if (sentBy !== undefined && sentBy !== key.value.deviceId) {
      dropped("the key names another device than the one that sent it");
      continue;
    }
    keys.push({ ...key.value, userId: ev.data.sender });
  }
  return keys;
}
