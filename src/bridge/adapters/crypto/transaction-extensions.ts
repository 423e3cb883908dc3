// The end-to-end encryption parts of an appservice transaction (MSC2409 /
// MSC4203 to-device events, MSC3202 device lists, one-time-key counts and
// unused fallback key types), validated into typed values once, here.
//
// The homeserver is trusted to send well-formed data, but a bad entry must
// not fail the whole transaction (the homeserver would retry it forever): an
// entry that does not fit is dropped and counted, everything else is kept.
import { isMatrixUserId, type MatrixUserId } from "../../model/matrix-ids.js";

export const TO_DEVICE_KEY = "de.sorunome.msc2409.to_device";
export const DEVICE_LISTS_KEY = "org.matrix.msc3202.device_lists";
export const OTK_COUNT_KEY = "org.matrix.msc3202.device_one_time_keys_count";
/** Synapse sends both spellings (an early draft said "key_counts"). */
export const OTK_COUNT_KEY_OLD = "org.matrix.msc3202.device_one_time_key_counts";
export const FALLBACK_KEYS_KEY = "org.matrix.msc3202.device_unused_fallback_key_types";

const MAX_DEVICE_ID = 255;
const MAX_NAME = 255;

export type Json = Record<string, unknown>;

/** A to-device event for one of the appservice's devices. */
export interface ToDeviceMessage {
  type: string;
  sender: MatrixUserId;
  toUserId: MatrixUserId;
  toDeviceId: string;
  content: Json;
}

/** Per user and device: algorithm → count of one-time keys left on the server. */
export type OneTimeKeyCounts = Map<MatrixUserId, Map<string, Map<string, number>>>;
/** Per user and device: the fallback key algorithms not used yet. */
export type FallbackKeyTypes = Map<MatrixUserId, Map<string, string[]>>;

export interface TransactionExtensions {
  toDevice: ToDeviceMessage[];
  deviceLists: { changed: MatrixUserId[]; left: MatrixUserId[] };
  oneTimeKeyCounts: OneTimeKeyCounts;
  fallbackKeyTypes: FallbackKeyTypes;
  /** How many entries were dropped as malformed. */
  dropped: number;
}

const isObject = (v: unknown): v is Json => !!v && typeof v === "object" && !Array.isArray(v);
const isDeviceId = (v: unknown): v is string =>
  typeof v === "string" && v.length > 0 && v.length <= MAX_DEVICE_ID;
const isName = (v: unknown): v is string => typeof v === "string" && v.length > 0 && v.length <= MAX_NAME;

/** True when the transaction carries nothing for the crypto machines. */
export function isEmpty(x: TransactionExtensions): boolean {
  return (
    x.toDevice.length === 0 &&
    x.deviceLists.changed.length === 0 &&
    x.deviceLists.left.length === 0 &&
    x.oneTimeKeyCounts.size === 0 &&
    x.fallbackKeyTypes.size === 0
  );
}

export function parseTransactionExtensions(body: Json): TransactionExtensions {
  let dropped = 0;

  const toDevice: ToDeviceMessage[] = [];
  const rawToDevice = body[TO_DEVICE_KEY];
  if (Array.isArray(rawToDevice)) {
    for (const e of rawToDevice) {
      if (
        isObject(e) &&
        isName(e.type) &&
        isMatrixUserId(e.sender) &&
        isMatrixUserId(e.to_user_id) &&
        isDeviceId(e.to_device_id) &&
        isObject(e.content)
      ) {
        toDevice.push({
          type: e.type,
          sender: e.sender,
          toUserId: e.to_user_id,
          toDeviceId: e.to_device_id,
          content: e.content,
        });
      } else dropped++;
    }
  } else if (rawToDevice !== undefined) dropped++;

  const users = (v: unknown): MatrixUserId[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      dropped++;
      return [];
    }
    const out: MatrixUserId[] = [];
    for (const u of v) {
      if (isMatrixUserId(u)) out.push(u);
      else dropped++;
    }
    return [...new Set(out)];
  };
  const rawLists = body[DEVICE_LISTS_KEY];
  let deviceLists = { changed: [] as MatrixUserId[], left: [] as MatrixUserId[] };
  if (isObject(rawLists)) deviceLists = { changed: users(rawLists.changed), left: users(rawLists.left) };
  else if (rawLists !== undefined) dropped++;

  // user → device → value, each level validated; `leaf` returns undefined for a bad value.
  function perDevice<T>(
    raw: unknown,
    leaf: (v: unknown) => T | undefined,
  ): Map<MatrixUserId, Map<string, T>> {
    const out = new Map<MatrixUserId, Map<string, T>>();
    if (raw === undefined) return out;
    if (!isObject(raw)) {
      dropped++;
      return out;
    }
    for (const [user, devices] of Object.entries(raw)) {
      if (!isMatrixUserId(user) || !isObject(devices)) {
        dropped++;
        continue;
      }
      const byDevice = new Map<string, T>();
      for (const [device, value] of Object.entries(devices)) {
        const parsed = isDeviceId(device) ? leaf(value) : undefined;
        if (parsed === undefined) dropped++;
        else byDevice.set(device, parsed);
      }
      if (byDevice.size > 0) out.set(user, byDevice);
    }
    return out;
  }

  const counts = (v: unknown): Map<string, number> | undefined => {
    if (!isObject(v)) return undefined;
    const m = new Map<string, number>();
    for (const [alg, n] of Object.entries(v)) {
      if (!isName(alg) || typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) return undefined;
      m.set(alg, n);
    }
    return m;
  };
  const algorithms = (v: unknown): string[] | undefined =>
    Array.isArray(v) && v.every(isName) ? [...new Set(v)] : undefined;

  const oneTimeKeyCounts = perDevice(body[OTK_COUNT_KEY] ?? body[OTK_COUNT_KEY_OLD], counts);
  const fallbackKeyTypes = perDevice(body[FALLBACK_KEYS_KEY], algorithms);

  return { toDevice, deviceLists, oneTimeKeyCounts, fallbackKeyTypes, dropped };
}

/** The devices a transaction has something for: to-device events, key counts or fallback key types. */
export function devicesIn(x: TransactionExtensions): Map<MatrixUserId, Set<string>> {
  const out = new Map<MatrixUserId, Set<string>>();
  const add = (user: MatrixUserId, device: string) => {
    let s = out.get(user);
    if (!s) out.set(user, (s = new Set()));
    s.add(device);
  };
  for (const m of x.toDevice) add(m.toUserId, m.toDeviceId);
  for (const [user, devices] of x.oneTimeKeyCounts) for (const d of devices.keys()) add(user, d);
  for (const [user, devices] of x.fallbackKeyTypes) for (const d of devices.keys()) add(user, d);
  return out;
}
