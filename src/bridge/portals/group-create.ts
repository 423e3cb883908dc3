// A group portal asked for from Matrix (the provisioning API's create_group):
// the user and the People addresses they name, in a new room made by the
// first address's ghost, the user (and any bridged Matrix user named) invited
// and made admin, the other ghosts joined. The same conversation asked for
// again gives its room back, the user invited again. The caller has checked
// that every address resolves; the user asked for it, so no sender's creation
// limit applies.
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import { groupRoomName, participantSet, setKey } from "../model/participant-set.js";
import type { GroupPortalStore } from "../core/ports/store.js";
import type { GroupService } from "./group-service.js";
import type { BridgeState } from "./bridge-state.js";
import { userError } from "../core/error-kinds.js";

export interface GroupCreateOptions {
  ghosts: GhostSide;
  groups: GroupService;
  store: Pick<GroupPortalStore, "bySetKey">;
  announce?: BridgeState["announce"];
  log: Logger;
  now?: () => number;
}

export interface GroupCreated {
  roomId: string;
  created: boolean;
}

export async function createGroupPortal(
  o: GroupCreateOptions,
  request: { user: MatrixUserId; own: PeopleAddress; addresses: readonly PeopleAddress[]; name?: string },
): Promise<GroupCreated> {
  const set = participantSet([request.own, ...request.addresses]);
  await o.groups.checkSize(set);
  return o.groups.exclusive(async () => {
    const members = await o.groups.membersOf(set);
    const ghosts = members.filter((m) => !m.matrixUser).map((m) => m.address as PeopleAddress);
    if (ghosts.length === 0) {
      throw userError("A group needs at least one People address that is not a user of this bridge.");
    }
    const creator = o.ghosts.ghostId(ghosts[0]!);
    const existing = await o.store.bySetKey(setKey(set));
    if (existing) {
      // They may have left it: invited again (no error when they are in it).
      await o.groups.ensureJoined(creator, existing.roomId);
      await o.ghosts.invite(creator, existing.roomId, request.user);
      return { roomId: existing.roomId, created: false };
    }
    const users = members.flatMap((m) => (m.matrixUser ? [m.matrixUser] : []));
    for (const a of ghosts) await o.ghosts.ensureGhost(o.ghosts.ghostId(a), a);
    const roomId = await o.ghosts.createGroupRoom(creator, {
      name: request.name ?? groupRoomName(ghosts),
      invite: [...ghosts.slice(1).map((a) => o.ghosts.ghostId(a)), ...users],
      admins: users,
    });
    o.groups.markJoined(creator, roomId);
    const createdAt = (o.now ?? Date.now)();
    // Recorded before the other ghosts join: a crash in between leaves invites a later message completes.
    await o.groups.put(roomId, members, createdAt);
    for (const a of ghosts.slice(1)) await o.groups.ensureJoined(o.ghosts.ghostId(a), roomId, creator);
    await o.announce?.({ group: { roomId, members, createdAt } });
    o.log.info({ room: roomId, participants: set.length }, "group portal created from Matrix");
    return { roomId, created: true };
  });
}
