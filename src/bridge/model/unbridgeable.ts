// The one "cannot bridge this" result of the converters. It is a value, not
// an exception: the bridge logs `reason` and `detail` (which never quote the
// message's content) and may tell the sender; nothing else changes.

export const UNBRIDGEABLE_REASONS = {
  /** The content is malformed, or a field has the wrong type or shape. */
  invalid_content: "The message is malformed.",
  /** An event type, msgtype or People content type the other side has no form for. */
  unsupported_type: "This kind of message cannot be sent to the other network.",
  /** An edit, reaction, redaction or receipt names a message that was never bridged. */
  unknown_target: "The message this refers to was not bridged.",
  /** Nothing is left to send (an empty message, receipts for no bridged message). */
  nothing_to_bridge: "The message is empty (or only spaces): there is nothing to send.",
  /** Too large even after truncation (a reaction key, which cannot be cut). */
  too_large: "The message is too large to bridge.",
} as const;

export type UnbridgeableReason = keyof typeof UNBRIDGEABLE_REASONS;

export interface Unbridgeable {
  readonly kind: "unbridgeable";
  readonly reason: UnbridgeableReason;
  /** For the log: which check failed, never the content. */
  readonly detail: string;
}

export function unbridgeable(reason: UnbridgeableReason, detail: string): Unbridgeable {
  return { kind: "unbridgeable", reason, detail };
}

export function isUnbridgeable(value: { kind: string }): value is Unbridgeable {
  return value.kind === "unbridgeable";
}

/** Text safe to show the sender of a message that was not bridged. */
export function unbridgeableText(u: Unbridgeable): string {
  return UNBRIDGEABLE_REASONS[u.reason];
}
