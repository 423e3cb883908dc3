// Sections of the bridge's configuration (config.ts) that belong to one part of the bridge each,
// kept here so config.ts stays one readable schema.
import { z } from "zod";

/** Where `npm run build:rtc-relay` puts the MatrixRTC media sidecar (relative to the install). */
export const DEFAULT_RELAY_BINARY = "rtc-relay/bin/people-rtc-relay";

/** bridge.accounts: bridge-made People accounts are opened when needed, closed after idle_close_seconds unused. */
export const accountsSection = z
  .strictObject({
    idle_close_seconds: z.number().int().min(1).max(604_800).default(600),
    /** Idle accounts kept open at most (the least recently used close first). */
    max_open: z.number().int().min(1).max(1_000_000).default(1_000),
  })
  .prefault({});

/**
 * Element X / Element Call (MatrixRTC) calls in DM portals bridged to People calls: the
 * ghost joins over the LiveKit focus the homeserver advertises. On by default; takes effect
 * with encryption.allow (media keys go over the ghost's Olm).
 */
export const matrixRtcSection = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** passthrough: the people-rtc-relay sidecar carries Opus/VP8 frames as they come; transcode: the bridge re-encodes (the fallback). */
    media: z.enum(["passthrough", "transcode"]).default("passthrough"),
    /** The sidecar's binary (`npm run build:rtc-relay`); relative to the bridge's install. */
    relay_binary: z.string().min(1).max(4096).default(DEFAULT_RELAY_BINARY),
  })
  .prefault({});
