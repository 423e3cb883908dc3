// The MatrixRTC (Element Call) events the bridge reads, validated once at the edge into typed
// values: the legacy call member state event (org.matrix.msc3401.call.member, Element Call 0.26
// "compatibility" mode, which matrix-js-sdk 43 sends), the ring notification
// (org.matrix.msc4075.rtc.notification) and the per-participant media key that arrives as the
// Olm-decrypted to-device io.element.call.encryption_keys. Anything else is refused with a reason.
import { z } from "zod";

export const CALL_MEMBER_TYPE = "org.matrix.msc3401.call.member";
export const RTC_NOTIFICATION_TYPE = "org.matrix.msc4075.rtc.notification";
export const ENCRYPTION_KEYS_TYPE = "io.element.call.encryption_keys";

const id = z.string().min(1).max(255);

export const LivekitTransport = z.object({
  type: z.literal("livekit"),
  livekit_service_url: z.url({ protocol: /^https?$/ }).max(2048),
  livekit_alias: z.string().min(1).max(255).optional(),
});
export type LivekitTransport = z.infer<typeof LivekitTransport>;

const ActiveCallMember = z.object({
  application: z.literal("m.call"),
  call_id: z.string().max(255),
  scope: z.enum(["m.room", "m.user"]).optional(),
  device_id: id,
  focus_active: z.object({ type: z.string().max(64), focus_selection: z.string().max(64).optional() }),
  foci_preferred: z.array(z.looseObject({ type: z.string().max(64) })).max(16),
  expires: z.number().int().positive().optional(),
  created_ts: z.number().int().nonnegative().optional(),
  "m.call.intent": z.enum(["audio", "video"]).optional(),
});

/** A device's membership of the room call, or its leaving (an empty content). */
export type CallMember =
  | {
      kind: "joined";
      deviceId: string;
      callId: string;
      livekit: LivekitTransport | undefined;
      intent: "audio" | "video" | undefined;
      expires: number | undefined;
      createdTs: number | undefined;
    }
  | { kind: "left" };

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const fail = (e: z.ZodError): { ok: false; reason: string } => ({
  ok: false,
  reason: e.issues.map((i) => `${i.path.join(".") || "content"}: ${i.message}`).join("; "),
});

export function parseCallMember(content: unknown): Parsed<CallMember> {
  if (content && typeof content === "object" && Object.keys(content).length === 0) {
    return { ok: true, value: { kind: "left" } };
  }
  const r = ActiveCallMember.safeParse(content);
  if (!r.success) return fail(r.error);
  const livekit = r.data.foci_preferred.map((f) => LivekitTransport.safeParse(f)).find((f) => f.success);
  return {
    ok: true,
    value: {
      kind: "joined",
      deviceId: r.data.device_id,
      callId: r.data.call_id,
      livekit: livekit?.success ? livekit.data : undefined,
      intent: r.data["m.call.intent"],
      expires: r.data.expires,
      createdTs: r.data.created_ts,
    },
  };
}

const Notification = z.object({
  notification_type: z.enum(["ring", "notification"]).optional(),
  "m.mentions": z.object({
    user_ids: z.array(z.string().max(255)).max(100).optional(),
    room: z.boolean().optional(),
  }),
  "m.call.intent": z.enum(["audio", "video"]).optional(),
  sender_ts: z.number().int().nonnegative().optional(),
  lifetime: z.number().int().positive().max(600_000).optional(),
});

export interface RtcNotification {
  ring: boolean;
  mentions: string[];
  intent: "audio" | "video" | undefined;
  /** How long the callee rings before the call counts as missed (ms). */
  lifetimeMs: number;
}

/** Element Call rings for 30 s when the notification names no lifetime. */
export const DEFAULT_RING_LIFETIME_MS = 30_000;

export function parseRtcNotification(content: unknown): Parsed<RtcNotification> {
  const r = Notification.safeParse(content);
  if (!r.success) return fail(r.error);
  return {
    ok: true,
    value: {
      ring: r.data.notification_type === "ring",
      mentions: r.data["m.mentions"].user_ids ?? [],
      intent: r.data["m.call.intent"],
      lifetimeMs: r.data.lifetime ?? DEFAULT_RING_LIFETIME_MS,
    },
  };
}

const base64 = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9+/]+={0,2}$/);

const EncryptionKeys = z.object({
  keys: z.object({ index: z.number().int().min(0).max(255), key: base64 }),
  room_id: z.string().regex(/^!.+/).max(255),
  member: z.object({ claimed_device_id: id, id: z.string().max(255).optional() }),
  session: z.object({
    application: z.literal("m.call"),
    call_id: z.string().max(255),
    scope: z.string().max(32),
  }),
  sent_ts: z.number().int().nonnegative().optional(),
});

export interface MediaKey {
  roomId: string;
  deviceId: string;
  index: number;
  /** 16+ bytes of key material for LiveKit's per-participant frame encryption. */
  key: Uint8Array;
}

/** The content of a decrypted to-device io.element.call.encryption_keys. */
export function parseEncryptionKeys(content: unknown): Parsed<MediaKey> {
  const r = EncryptionKeys.safeParse(content);
  if (!r.success) return fail(r.error);
  const key = Buffer.from(r.data.keys.key, "base64");
  if (key.length < 16) return { ok: false, reason: "keys.key: shorter than 16 bytes" };
  return {
    ok: true,
    value: {
      roomId: r.data.room_id,
      deviceId: r.data.member.claimed_device_id,
      index: r.data.keys.index,
      key,
    },
  };
}
