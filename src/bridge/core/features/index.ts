// The bridge's features, in one list: the registry is built from it at start.
// A new feature adds its file here; a claim it shares with another fails the start.
import { FeatureRegistry } from "../router.js";
import { BRIDGE_INFO } from "./bridge-info.js";
import { CALLS } from "./calls.js";
import { ENCRYPTION } from "./encryption.js";
import type { Feature } from "./feature.js";
import { FEEDS } from "./feeds.js";
import { GROUPS } from "./groups.js";
import { MESSAGES } from "./messages.js";
import { POLLS } from "./polls.js";
import { PROFILES } from "./profiles.js";
import { RECEIPTS } from "./receipts.js";
import { RTC } from "./rtc.js";
import { ROOMS } from "./rooms.js";
import { SEND_STATUS } from "./send-status.js";
import { TRUST } from "./trust.js";

export const BRIDGE_FEATURES: readonly Feature[] = [
  MESSAGES,
  RECEIPTS,
  GROUPS,
  ROOMS,
  PROFILES,
  TRUST,
  ENCRYPTION,
  CALLS,
  RTC,
  POLLS,
  FEEDS,
  BRIDGE_INFO,
  SEND_STATUS,
];

export function bridgeRegistry(extra: readonly Feature[] = []): FeatureRegistry {
  return new FeatureRegistry([...BRIDGE_FEATURES, ...extra]);
}
