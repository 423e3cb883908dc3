// What a device's /sync answer and an appservice transaction bring for one
// crypto machine: to-device events, device-list changes, key counts.
import type { Json } from "./transaction-extensions.js";

/** What a transaction brings for one device. */
export interface DeviceChanges {
  toDevice: Json[];
  changed: string[];
  left: string[];
  oneTimeKeyCounts?: Map<string, number>;
  fallbackKeyTypes?: string[];
}

/** Only what the crypto machine needs from /sync: no rooms, presence or account data. */
export const SYNC_FILTER = {
  room: { rooms: [], account_data: { not_types: ["*"] } },
  presence: { not_types: ["*"] },
  account_data: { not_types: ["*"] },
};

const isObj = (v: unknown): v is Json => !!v && typeof v === "object" && !Array.isArray(v);
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];

/** The crypto parts of a /sync answer, validated; undefined without next_batch. */
export function parseSyncChanges(answer: Json): (DeviceChanges & { nextBatch: string }) | undefined {
  if (typeof answer.next_batch !== "string") return undefined;
  const toDevice = (
    isObj(answer.to_device) && Array.isArray(answer.to_device.events) ? answer.to_device.events : []
  ).filter(
    (e): e is Json =>
      isObj(e) && typeof e.type === "string" && typeof e.sender === "string" && isObj(e.content),
  );
  const lists = isObj(answer.device_lists) ? answer.device_lists : {};
  const counts = isObj(answer.device_one_time_keys_count) ? answer.device_one_time_keys_count : undefined;
  const fallback = answer.device_unused_fallback_key_types;
  return {
    nextBatch: answer.next_batch,
    toDevice,
    changed: strings(lists.changed),
    left: strings(lists.left),
    ...(counts
      ? {
          oneTimeKeyCounts: new Map(
            Object.entries(counts).filter(
              (e): e is [string, number] => Number.isSafeInteger(e[1]) && (e[1] as number) >= 0,
            ),
          ),
        }
      : {}),
    ...(Array.isArray(fallback) ? { fallbackKeyTypes: strings(fallback) } : {}),
  };
}
