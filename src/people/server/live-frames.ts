// The live WebSocket's frames (the API is described at the top of live.ts):
// what a client may send, checked once here, and the frames the server writes.
import { z } from "zod";
import type { ErrorCode } from "../errors.js";
import { isPeopleAddress } from "../protocol/address.js";
import type { StoredEnvelope } from "../../store/types.js";

/** Envelopes per mailbox read, and the most ids one `ack` may carry. */
export const CATCH_UP_PAGE = 500;
const MAX_RELAY_BYTES = 64 * 1024;
export const PONG = '{"type":"pong"}';

const B64U = /^[A-Za-z0-9_-]*$/;
const ENVELOPE_ID = /^[A-Za-z0-9_-]{21}[AQgw]$/;
const DEVICE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

export const clientFrame = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auth"), token: z.string().max(512) }),
  z.object({
    type: z.literal("ack"),
    ids: z.array(z.string().regex(ENVELOPE_ID, "not an envelope id")).min(1).max(CATCH_UP_PAGE),
  }),
  z.object({
    type: z.literal("relay"),
    to: z.object({
      address: z.string().max(254).refine(isPeopleAddress, "not a canonical People address"),
      device: z.string().regex(DEVICE_ID, "not a device id"),
    }),
    session: z.string().regex(SESSION_ID, "not a session id"),
    data: z
      .string()
      .max(Math.ceil((MAX_RELAY_BYTES * 4) / 3), "relay data larger than 64 KiB")
      .regex(B64U, "data is not base64url")
      .refine((s) => s.length % 4 !== 1, "data is not base64url"),
  }),
  z.object({ type: z.literal("ping") }),
]);
export type ClientFrame = z.infer<typeof clientFrame>;

export function envelopeFrame(e: StoredEnvelope): Buffer {
  return Buffer.from(
    JSON.stringify({
      type: "envelope",
      seq: e.seq,
      id: e.envelopeId,
      expires_at: e.expiresAt,
      data: e.inner.toString("base64url"),
    }),
    "utf8",
  );
}

export function errorFrame(code: ErrorCode, error: string, session?: string): string {
  return JSON.stringify(
    session === undefined
      ? { type: "error", errcode: code, error }
      : { type: "error", errcode: code, error, session },
  );
}
