// A People conversation is its participant set (PROTOCOL §11: no
// conversation id; like e-mail "reply all"): the sender and everyone in `to`.
// Pure: the set, its stable key, and the membership difference between two
// sets. Addresses are canonical (parseAddress), so `===` is equality.
import { createHash } from "node:crypto";
import type { PeopleAddress } from "../../people/protocol/address.js";

/** Sorted, without duplicates. Build it with participantSet() only. */
export type ParticipantSet = readonly PeopleAddress[] & { readonly __brand: "ParticipantSet" };

/** The default cap on the ghosts a group room gets from the People side (bridge.groups.max_ghosts). */
export const DEFAULT_MAX_GROUP_GHOSTS = 64;

export function participantSet(addresses: Iterable<PeopleAddress>): ParticipantSet {
  return [...new Set(addresses)].sort() as unknown as ParticipantSet;
}

/** The conversation of a message: its sender and every recipient. */
export function conversationOf(from: PeopleAddress, to: readonly PeopleAddress[]): ParticipantSet {
  return participantSet([from, ...to]);
}

/**
 * The set written as one string: sorted and joined by "\n", which no canonical
 * address contains, so two sets have the same text exactly when they are equal.
 */
export function setText(set: ParticipantSet): string {
  return set.join("\n");
}

/**
 * The stable key of a set, for a unique index: SHA-256 of setText (hex). A set
 * of 1024 long addresses is ~260 KB, more than an index entry may hold.
 */
export function setKey(set: ParticipantSet): string {
  return createHash("sha256").update(setText(set)).digest("hex");
}

export function sameSet(a: ParticipantSet, b: ParticipantSet): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export interface MembershipChange {
  added: PeopleAddress[];
  removed: PeopleAddress[];
}

export function membershipChange(before: ParticipantSet, after: ParticipantSet): MembershipChange {
  const was = new Set(before);
  const now = new Set(after);
  return {
    added: after.filter((a) => !was.has(a)),
    removed: before.filter((a) => !now.has(a)),
  };
}

/**
 * How a People message that arrived for a bridged account finds its room:
 * - "dm": two participants and no group room to continue (the DM portals);
 * - "continue": its reply/edit/reaction target is in a group room whose
 *   current set it shares, or differs from in a way allowed as a membership
 *   change (the sender is in the room's set and the new set has 3 or more
 *   participants);
 * - "group": the group room of exactly this set, found or made.
 */
export type Route =
  { kind: "dm" } | { kind: "continue"; roomId: string; change: MembershipChange } | { kind: "group" };

export interface TargetRoom {
  roomId: string;
  set: ParticipantSet;
}

export function routeMessage(o: {
  from: PeopleAddress;
  set: ParticipantSet;
  /** The group rooms holding a message this one points at (its reply/edit/reaction target). */
  targets: readonly TargetRoom[];
}): Route {
  for (const room of o.targets) {
    if (sameSet(room.set, o.set)) return { kind: "continue", roomId: room.roomId, change: noChange };
  }
  if (o.set.length >= 3) {
    for (const room of o.targets) {
      if (room.set.includes(o.from)) {
        return { kind: "continue", roomId: room.roomId, change: membershipChange(room.set, o.set) };
      }
    }
    return { kind: "group" };
  }
  return { kind: "dm" };
}

const noChange: MembershipChange = { added: [], removed: [] };

/** A short room name from the participants other than the bridged users: "ann@x, joe@y and 3 more". */
export function groupRoomName(addresses: readonly PeopleAddress[], maxChars = 200): string {
  const shown: string[] = [];
  let length = 0;
  for (const [i, a] of addresses.entries()) {
    const rest = addresses.length - i - 1;
    const tail = rest > 0 ? ` and ${rest} more` : "";
    if (shown.length > 0 && length + 2 + a.length + tail.length > maxChars) {
      return `${shown.join(", ")} and ${addresses.length - i} more`;
    }
    shown.push(a);
    length += (shown.length > 1 ? 2 : 0) + a.length;
  }
  return shown.join(", ") || "People group";
}

function everyone(set: ParticipantSet): string {
  return set.join(", ");
}

/** The notice of a membership change from People: "joe@x added a@y and left out b@z. The conversation is now: …". */
export function changeText(from: PeopleAddress, change: MembershipChange, set: ParticipantSet): string {
  const parts = [
    ...(change.added.length ? [`added ${change.added.join(", ")}`] : []),
    ...(change.removed.length ? [`left out ${change.removed.join(", ")}`] : []),
  ];
  return `${from} ${parts.join(" and ")}. The conversation is now: ${everyone(set)}.`;
}
