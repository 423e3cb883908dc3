// Group portals, the Matrix side of membership: a ghost invited into a group
// room (or into a DM portal, which becomes a group of three) is added; a ghost
// kicked or a bridged Matrix user leaving is removed; a bridged Matrix user
// joining is added. Each change is told by a notice and the next message goes
// to the new set. Membership events sent by ghosts are the bridge's own doing
// and change nothing. Decisions run under GroupService.exclusive with the
// People side's, on fresh state.
import { lookupRefusal } from "./lookup-refusal.js";
import type { PeopleAddress } from "../../people/protocol/address.js";
import { REFUSAL } from "../core/bot.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide, RoomEvent } from "../core/ports/matrix-side.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import { participantSet, type ParticipantSet } from "../model/participant-set.js";
import { notice, noticeReplyContent } from "../core/notice.js";
import type { PeopleSide } from "../core/ports/people-side.js";
import type { Permissions } from "../core/permissions.js";
import type { GroupPortal, GroupPortalStore, Portal, PortalStore } from "../core/ports/store.js";
import { setOf, type GroupService } from "./group-service.js";
import { isUserError } from "../core/error-kinds.js";

export const NOT_PARTICIPANT_TEXT =
  "Not delivered: you are not in this People conversation (only its participants' messages are sent).";

/** Said when a ghost of a bridged Matrix user's own People address is invited. */
export const BRIDGED_GHOST_TEXT =
  "That People address belongs to a Matrix user of this bridge: invite the Matrix user instead.";

export interface GroupMembershipOptions {
  service: GroupService;
  ghosts: GhostSide;
  groups: GroupPortalStore;
  /** The DM portals, for a DM that becomes a group. */
  portals: PortalStore;
  people: PeopleSide;
  permissions: Permissions;
  log: Logger;
  maxGhosts: number;
  now?: () => number;
}

export class GroupMembership {
  private readonly g: GroupService;

  constructor(private readonly o: GroupMembershipOptions) {
    this.g = o.service;
  }

  /** m.room.member in a group room (or a ghost invited into a DM portal): membership from the Matrix side. */
  onMember(event: RoomEvent, group: GroupPortal | undefined, dm: Portal | undefined): Promise<void> {
    return this.g.exclusive(async () => {
      const target = event.stateKey;
      if (target === undefined) return;
      // What the ghosts and the bot do is the bridge's own doing, already recorded.
      if (this.o.ghosts.addressOf(event.sender)) return;
      const membership = event.content.membership;
      const address = this.o.ghosts.addressOf(target);
      // Fresh state: an earlier event of the same transaction may have changed it.
      const current = group ? await this.o.groups.byRoom(group.roomId) : undefined;
      // A DM that became a group (a crash may have left its DM row behind).
      if (current && dm) await this.o.portals.remove(dm.roomId);
      if (address && membership === "invite") {
        if (current) return this.addGhost(event, current, address);
        if (dm) return this.dmToGroup(event, dm, address);
        return;
      }
      if (!current) return;
      if (membership === "leave" || membership === "ban") return this.removeMember(event, current, target);
      if (membership === "join" && !address) return this.addUser(event, current, target);
    });
  }

  private async addGhost(event: RoomEvent, group: GroupPortal, address: PeopleAddress): Promise<void> {
    const ghost = this.o.ghosts.ghostId(address);
    const room = group.roomId;
    const decline = async (reason: string, why: string): Promise<void> => {
      this.o.log.info({ room, address, why }, "declined an invite to a group room");
      await this.o.ghosts.leave(ghost, room, reason);
    };
    const inviter = group.members.find((m) => m.matrixUser === event.sender);
    if (!inviter || this.o.permissions.levelOf(event.sender) === "none") {
      return decline(REFUSAL, "the inviter is not a bridged member");
    }
    if (await this.o.people.matrixUserOf(address)) {
      return decline(BRIDGED_GHOST_TEXT, "a bridged user's address");
    }
    const set = participantSet([...setOf(group), address]);
    if (set.length === group.members.length) {
      await this.g.ensureJoined(ghost, room);
      return;
    }
    const ghosts = (await this.g.membersOf(set)).filter((m) => !m.matrixUser).length;
    if (ghosts > this.o.maxGhosts) {
      return decline(`A group room bridges at most ${this.o.maxGhosts} People addresses.`, "too many");
    }
    const account = await this.o.people.accountFor(event.sender);
    const found = await account.lookup(address);
    const refusal = lookupRefusal(address, found);
    if (refusal !== undefined) return decline(refusal, found.status);
    await this.o.ghosts.ensureGhost(ghost, address);
    await this.g.ensureJoined(ghost, room);
    // Recorded before it is told: the notice says what is in effect.
    await this.g.put(room, await this.g.membersOf(set), group.createdAt);
    await this.g.tell(ghost, room, `members.${event.eventId}`, addedText(event.sender, [address], set));
    this.o.log.info({ room, address }, "a ghost was added to a group room");
  }

  /** A ghost invited into a DM portal: the DM becomes a group of the user, the DM's address and the new one. */
  private async dmToGroup(event: RoomEvent, dm: Portal, address: PeopleAddress): Promise<void> {
    if (event.sender !== dm.matrixUser || address === dm.peopleAddress) return;
    const ghost = this.o.ghosts.ghostId(address);
    const room = dm.roomId;
    if (this.o.permissions.levelOf(event.sender) === "none") return this.o.ghosts.leave(ghost, room, REFUSAL);
    const account = await this.o.people.accountFor(event.sender);
    if (address === account.address)
      return this.o.ghosts.leave(ghost, room, "That is your own People address.");
    if (await this.o.people.matrixUserOf(address))
      return this.o.ghosts.leave(ghost, room, BRIDGED_GHOST_TEXT);
    const refusal = lookupRefusal(address, await account.lookup(address));
    if (refusal !== undefined) return this.o.ghosts.leave(ghost, room, refusal);
    const set = participantSet([account.address, dm.peopleAddress as PeopleAddress, address]);
    this.g.markJoined(this.o.ghosts.ghostId(dm.peopleAddress as PeopleAddress), room);
    await this.o.ghosts.ensureGhost(ghost, address);
    await this.g.ensureJoined(ghost, room);
    await this.g.put(room, await this.g.membersOf(set), (this.o.now ?? Date.now)());
    await this.o.portals.remove(room);
    await this.g.tell(ghost, room, `members.${event.eventId}`, addedText(event.sender, [address], set));
    this.o.log.info({ room, address }, "a DM portal became a group");
  }

  private async addUser(event: RoomEvent, group: GroupPortal, user: string): Promise<void> {
    if (group.members.some((m) => m.matrixUser === user)) return;
    if (this.o.permissions.levelOf(user) === "none") return;
    let address: PeopleAddress;
    try {
      address = (await this.o.people.accountFor(user)).address;
    } catch (err) {
      if (isUserError(err)) return;
      throw err;
    }
    const set = participantSet([...setOf(group), address]);
    await this.g.put(group.roomId, await this.g.membersOf(set), group.createdAt);
    const speaker = this.g.speaker(group);
    if (speaker)
      await this.g.tell(speaker, group.roomId, `members.${event.eventId}`, joinedText(address, set));
    this.o.log.info({ room: group.roomId, user }, "a Matrix user joined a group room");
  }

  private async removeMember(event: RoomEvent, group: GroupPortal, target: string): Promise<void> {
    const member = group.members.find(
      (m) => m.matrixUser === target || this.o.ghosts.ghostId(m.address as PeopleAddress) === target,
    );
    if (!member) return;
    const room = group.roomId;
    this.g.forgetJoined(target as MatrixUserId, room);
    const rest = group.members.filter((m) => m !== member);
    if (!rest.some((m) => m.matrixUser) || !rest.some((m) => !m.matrixUser)) {
      // No bridged Matrix user left to speak for, or no People address left to speak to: the portal ends.
      await this.o.groups.remove(room);
      for (const m of rest) {
        await this.o.ghosts
          .leave(this.o.ghosts.ghostId(m.address as PeopleAddress), room)
          .catch((err: unknown) => this.o.log.warn({ err, room }, "a ghost could not leave"));
      }
      this.o.log.info({ room }, "group portal closed: no one left on one side");
      return;
    }
    const set = participantSet(rest.map((m) => m.address as PeopleAddress));
    const remaining = { ...group, members: rest };
    // Recorded before it is told: whoever acts on the notice (a member, a test) finds the new set.
    await this.g.put(room, await this.g.membersOf(set), group.createdAt);
    const speaker = this.g.speaker(remaining);
    if (speaker) {
      await this.g.tell(speaker, room, `members.${event.eventId}`, removedText(member.address, set));
    }
    this.o.log.info({ room }, "a participant left a group room");
  }

  /** A message in a group room from someone who is not (or no longer) a participant: told, not sent. */
  async notParticipant(event: RoomEvent, group: GroupPortal): Promise<void> {
    if (event.type !== "m.room.message" || this.o.ghosts.addressOf(event.sender)) return;
    const speaker = this.g.speaker(group);
    if (!speaker) return;
    const content = noticeReplyContent(notice(NOT_PARTICIPANT_TEXT), event.eventId);
    await this.o.ghosts.sendEvent(
      speaker,
      group.roomId,
      "m.room.message",
      content,
      `notice.${event.eventId}`,
    );
  }
}

function everyone(set: ParticipantSet): string {
  return set.join(", ");
}

function addedText(by: string, added: PeopleAddress[], set: ParticipantSet): string {
  return `${by} added ${added.join(", ")}. The conversation is now: ${everyone(set)}.`;
}

function joinedText(address: string, set: ParticipantSet): string {
  return `${address} joined. The conversation is now: ${everyone(set)}.`;
}

function removedText(address: string, set: ParticipantSet): string {
  return `${address} was removed. The conversation is now: ${everyone(set)}.`;
}
