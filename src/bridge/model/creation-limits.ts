// Limits on what one People sender can make the bridge create: anyone can
// write any addresses into a message, and every new conversation is a room on
// the homeserver with a ghost (a registered Matrix user) per address. So per
// sender and sliding hour, at most `rooms` rooms (group rooms, and DMs opened
// by their mail) and `ghosts` ghosts brought into rooms (other than the
// sender's own; new rooms and members added by a reply).
// Pure: the budget rule and the texts; portals/creation-limiter.ts keeps count.
import type { PeopleAddress } from "../../people/protocol/address.js";

export const DEFAULT_ROOMS_PER_SENDER_PER_HOUR = 20;
export const DEFAULT_GHOSTS_PER_SENDER_PER_HOUR = 100;
export const CREATION_WINDOW_MS = 60 * 60 * 1000;

export interface Counts {
  rooms: number;
  ghosts: number;
}

export interface CreationLimits {
  roomsPerHour: number;
  ghostsPerHour: number;
}

/** Which limit `want` more would pass, beside `used` within the window; undefined when it fits. */
export function overLimit(
  used: Counts,
  want: Counts,
  limits: CreationLimits,
): "rooms" | "ghosts" | undefined {
  if (want.rooms > 0 && used.rooms + want.rooms > limits.roomsPerHour) return "rooms";
  if (want.ghosts > 0 && used.ghosts + want.ghosts > limits.ghostsPerHour) return "ghosts";
  return undefined;
}

/** Why an address of a conversation is not in its room. */
export type LeftOutReason = "unknown" | "no_server" | "unreachable" | "limit";

const REASON_TEXT: Record<LeftOutReason, string> = {
  unknown: "no People account",
  no_server: "their domain has no People server",
  unreachable: "their People server cannot be reached",
  limit: "the bridge adds no more addresses for the sender this hour",
};

/** At most this many addresses are named in one notice. */
export const MAX_NAMED = 10;

function named(addresses: readonly PeopleAddress[]): string {
  const shown = addresses.slice(0, MAX_NAMED).join(", ");
  const rest = addresses.length - MAX_NAMED;
  return rest > 0 ? `${shown} and ${rest} more` : shown;
}

/**
 * The notice for addresses of a message left out of the room it is shown in:
 * "joe@x also wrote to a@y, b@y (no People account); they are not in this conversation."
 */
export function leftOutText(
  from: PeopleAddress,
  leftOut: ReadonlyMap<PeopleAddress, LeftOutReason>,
  dm: boolean,
): string {
  const parts = (Object.keys(REASON_TEXT) as LeftOutReason[]).flatMap((reason) => {
    const of = [...leftOut].filter(([, r]) => r === reason).map(([a]) => a);
    return of.length ? [`${named(of)} (${REASON_TEXT[reason]})`] : [];
  });
  const where = dm ? `Answers here go to ${from} only.` : "They are not in this conversation.";
  return `${from} also wrote this to ${parts.join(", ")}. ${where}`;
}

/** The notice for a group message shown in the DM because the sender made too many rooms or ghosts. */
export function overLimitText(from: PeopleAddress, others: readonly PeopleAddress[]): string {
  return (
    `${from} wrote this to a conversation with ${named(others)}. The bridge makes no more group ` +
    `rooms for ${from} this hour, so it is shown here; answers here go to ${from} only.`
  );
}
