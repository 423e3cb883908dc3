// What a feature is, as the core sees it (learned from hookshot's connections
// and mautrix bridgev2's capability interfaces): a name, and the types it
// claims on either side, each with its fate. A type has exactly one owner;
// the registry (../router.ts) refuses two at start.
//
// The fates, and nothing else: a claimed type is
// - "bridged": the owner carries it across (its hooks below, or the flow the
//   owner names);
// - "notice": not bridged, and the sender is told why, in their own room, once;
// - "ignored": not bridged and nobody told, by design, with the reason written
//   in the claim (and logged at debug when it happens).
// No library is imported here (an eslint rule keeps src/bridge/core so).

/** Where a type arrives from. */
export type ClaimSide =
  /** A Matrix room event type (timeline or state). */
  | "matrix.room"
  /** A msgtype of m.room.message. */
  | "matrix.msgtype"
  /** An ephemeral Matrix event (receipts, typing, presence). */
  | "matrix.ephemeral"
  /** A to-device Matrix event (keys, verification, secrets). */
  | "matrix.to_device"
  /** A People content type (protocol/messages.ts). */
  | "people";

export type Fate =
  | { readonly kind: "bridged" }
  | { readonly kind: "notice"; readonly text: string }
  | { readonly kind: "ignored"; readonly reason: string };

export interface Claim {
  readonly side: ClaimSide;
  readonly type: string;
  readonly fate: Fate;
}

export interface Feature {
  /** Short and unique: "dm", "groups", "calls". */
  readonly name: string;
  readonly claims: readonly Claim[];
  /**
   * Its bridged People types are carried by the feature's own handler (given to the
   * People → Matrix flow by name), not by the message converters (feeds: a post notice
   * brings posts into a feed room).
   */
  readonly ownFlow?: boolean;
}

export const BRIDGED: Fate = { kind: "bridged" };

export const bridged = (side: ClaimSide, ...types: string[]): Claim[] =>
  types.map((type) => ({ side, type, fate: BRIDGED }));

export const noticed = (side: ClaimSide, text: string, ...types: string[]): Claim[] =>
  types.map((type) => ({ side, type, fate: { kind: "notice", text } }));

export const ignored = (side: ClaimSide, reason: string, ...types: string[]): Claim[] =>
  types.map((type) => ({ side, type, fate: { kind: "ignored", reason } }));
