// What the Matrix → People flow needs of a portal room (a DM portal or a group room's member).
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { Portal } from "../core/ports/store.js";

/**
 * What the flow needs of a portal room: whose People account speaks there,
 * to whom it goes, and which ghost answers with notices. A DM portal is one
 * user and one address; a group room gives one view per speaking member.
 */
export interface PortalView {
  roomId: string;
  /** The Matrix user whose People account speaks in this room. */
  matrixUser: string;
  /** Everyone a message goes to: the other participants. */
  to: readonly PeopleAddress[];
  /** The ghost that posts the bridge's notices. */
  noticeGhost: PeopleAddress;
  /** The recipients as a notice names them. */
  label: string;
  /** The user's own address that speaks here (a DM portal's owner); absent: the user's default one. */
  owner?: PeopleAddress;
}

export function viewOf(p: Portal | PortalView): PortalView {
  if ("to" in p) return p;
  const address = p.peopleAddress as PeopleAddress;
  return {
    roomId: p.roomId,
    matrixUser: p.matrixUser,
    to: [address],
    noticeGhost: address,
    label: address,
    ...(p.ownerAddress ? { owner: p.ownerAddress as PeopleAddress } : {}),
  };
}
