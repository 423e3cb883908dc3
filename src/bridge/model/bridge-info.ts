// The bridge state event of a portal room (MSC2346): `m.bridge` and its
// unstable twin `uk.half-shot.bridge`, with the same content, so clients show
// which network a room is bridged to. Pure: the state key and content of a DM
// portal (the remote address) and of a group portal (a stable id of the room,
// as People groups have no id of their own: a conversation is its participant
// set, which changes).
import { createHash } from "node:crypto";
import { addressDomain, type PeopleAddress } from "../../people/protocol/address.js";

export const BRIDGE_STATE_TYPES = ["m.bridge", "uk.half-shot.bridge"] as const;

export const PEOPLE_PROTOCOL = { id: "people", displayname: "People" } as const;

export interface BridgeInfoContent {
  bridgebot: string;
  creator: string;
  protocol: { id: string; displayname: string };
  network: { id: string; displayname: string };
  channel: { id: string; displayname: string };
}

export interface BridgeInfo {
  stateKey: string;
  content: BridgeInfoContent;
}

/** A group portal's stable id: its room id hashed (URL-safe, and the same at every start). */
export function groupChannelId(roomId: string): string {
  return `group-${createHash("sha256").update(roomId).digest("hex").slice(0, 24)}`;
}

/** The state of a DM portal with `address`. */
export function dmBridgeInfo(bot: string, address: PeopleAddress): BridgeInfo {
  const domain = addressDomain(address);
  return {
    stateKey: `people://${domain}/${address}`,
    content: {
      bridgebot: bot,
      creator: bot,
      protocol: { ...PEOPLE_PROTOCOL },
      network: { id: domain, displayname: domain },
      channel: { id: address, displayname: address },
    },
  };
}

/**
 * The state of a group portal. Its network is the bridge's own People domain: the
 * conversation's participants may come from many domains, and its Matrix users' accounts
 * live on the bridge's.
 */
export function groupBridgeInfo(bot: string, peopleDomain: string, roomId: string, name: string): BridgeInfo {
  const id = groupChannelId(roomId);
  return {
    stateKey: `people://${peopleDomain}/${id}`,
    content: {
      bridgebot: bot,
      creator: bot,
      protocol: { ...PEOPLE_PROTOCOL },
      network: { id: peopleDomain, displayname: peopleDomain },
      channel: { id, displayname: name },
    },
  };
}

/** Same content, whatever the key order (state read back from the homeserver). */
export function sameContent(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v && typeof v === "object") {
    const entries = Object.entries(v as Record<string, unknown>).sort(([x], [y]) =>
      x < y ? -1 : x > y ? 1 : 0,
    );
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}
