// The lines the people-rtc-relay sidecar writes on its stdout (the contract: docs/ARCHITECTURE.md,
// "MatrixRTC calls"), parsed once here into typed values. The child is trusted with call media,
// not with the bridge's stability: a garbled or hostile line is an error value, never a throw.
import { z } from "zod";

/** A line longer than this is dropped unread (the contract's limit both ways). */
export const MAX_LINE_BYTES = 1024 * 1024;

const id = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const callId = z.string().min(1).max(200);
const identity = z.string().min(1).max(1000);
const count = z.number().int().nonnegative();

export const replySchema = z.union([
  z.looseObject({ id, ok: z.literal(true) }),
  z.looseObject({ id: id.nullable(), ok: z.literal(false), error: z.string().max(4000) }),
]);
export type RelayReply = z.infer<typeof replySchema>;

const candidateSchema = z.strictObject({
  candidate: z.string().max(4000),
  sdpMid: z.string().max(200).nullish(),
  sdpMLineIndex: z.number().int().nonnegative().max(1000).nullish(),
});

export const eventSchema = z.discriminatedUnion("event", [
  z.strictObject({ event: z.literal("candidate"), call: callId, candidate: candidateSchema.nullable() }),
  z.strictObject({
    event: z.literal("state"),
    call: callId,
    state: z.enum(["new", "connecting", "connected", "failed", "closed"]),
  }),
  z.strictObject({ event: z.literal("left"), call: callId, identity }),
  z.strictObject({
    event: z.literal("media"),
    call: callId,
    direction: z.enum(["toPeople", "toMatrix"]),
    kind: z.enum(["audio", "video"]),
  }),
  z.strictObject({ event: z.literal("disconnected"), call: callId, reason: z.string().max(1000) }),
]);
export type RelayEvent = z.infer<typeof eventSchema>;

/** What the op results carry (validated per op by the client). */
export const helloSchema = z.looseObject({ version: z.literal("1"), codecs: z.array(z.string()) });
export const sdpSchema = z.looseObject({ sdp: z.string().min(1).max(200_000) });
export const fingerprintSchema = z.looseObject({
  fingerprint: z
    .string()
    .regex(/^[a-z0-9-]+ [0-9A-F]{2}(:[0-9A-F]{2})+$/i)
    .nullable(),
});
const pair = z.strictObject({ audio: count, video: count });
export const statsSchema = z.looseObject({
  toPeople: pair,
  toMatrix: pair,
  decryptFailures: count,
  keyframeRequests: count,
});
export type RelayStats = z.infer<typeof statsSchema>;

export type RelayLine =
  | { kind: "reply"; reply: RelayReply }
  | { kind: "event"; event: RelayEvent }
  | { kind: "invalid"; why: string };

/** One stdout line of the sidecar; `why` names the problem without echoing the line. */
export function parseRelayLine(line: string): RelayLine {
  if (Buffer.byteLength(line) > MAX_LINE_BYTES) return { kind: "invalid", why: "a line over 1 MiB" };
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { kind: "invalid", why: "not JSON" };
  }
  if (typeof json !== "object" || json === null || Array.isArray(json))
    return { kind: "invalid", why: "not a JSON object" };
  if ("event" in json) {
    const e = eventSchema.safeParse(json);
    return e.success ? { kind: "event", event: e.data } : { kind: "invalid", why: "a malformed event" };
  }
  const r = replySchema.safeParse(json);
  return r.success ? { kind: "reply", reply: r.data } : { kind: "invalid", why: "a malformed reply" };
}

/** Splits a byte stream into lines, dropping (and counting) any that grow past MAX_LINE_BYTES. */
export class LineSplitter {
  private buf = "";
  private skipping = false;
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly onOverlong: () => void,
  ) {}

  push(chunk: string): void {
    let text = this.buf + chunk;
    this.buf = "";
    for (;;) {
      const nl = text.indexOf("\n");
      if (nl < 0) break;
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      if (this.skipping) this.skipping = false;
      else if (line.trim() !== "") this.onLine(line);
    }
    if (text.length > MAX_LINE_BYTES) {
      // The rest of this line is dropped as it comes, without holding it.
      if (!this.skipping) this.onOverlong();
      this.skipping = true;
      return;
    }
    if (!this.skipping) this.buf = text;
  }
}
