// Group conversations started from Matrix: a room that is neither a portal nor
// a direct chat (a fresh room a user made, with `is_direct` false, its ghosts
// invited at creation or later) becomes a group portal once two or more ghosts
// are in it. Each invited ghost is checked as an invite into a group room is
// (the inviter is a bridged user, the address has a People account and is no
// bridged user's) and joins; the first one alone says it waits for another.
// When the second joins, the room's set is every ghost joined to it, the
// inviter, and every other joined Matrix user with a People account here, read
// from the homeserver, so the room's own membership is the state that survives a
// restart. The set is stored before the notice that tells it, and the room is
// named after its People participants unless it has a name of its own.
import type { PeopleAddress } from "../../people/protocol/address.js";
import { REFUSAL } from "../core/bot.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide, RoomEvent } from "../core/ports/matrix-side.js";
import { participantSet, type ParticipantSet } from "../model/participant-set.js";
import type { PeopleSide } from "../core/ports/people-side.js";
import type { Permissions } from "../core/permissions.js";
import { isUserError } from "../core/error-kinds.js";
import { BRIDGED_GHOST_TEXT } from "./group-membership.js";
import type { GroupService } from "./group-service.js";

export function waitingText(address: PeopleAddress): string {
  return (
    "I bridge this room as a People conversation once two or more People addresses are in it: " +
    `invite another. For a conversation with ${address} alone, start a direct chat with me.`
  );
}

export function startedText(by: string, set: ParticipantSet): string {
  return `${by} started a People conversation: ${set.join(", ")}.`;
}

export interface GroupsFromMatrixOptions {
  service: GroupService;
  ghosts: GhostSide;
  people: PeopleSide;
  permissions: Permissions;
  log: Logger;
  maxGhosts: number;
  now?: () => number;
}

export class GroupsFromMatrix {
  constructor(private readonly o: GroupsFromMatrixOptions) {}

  /** A ghost invited into a room that is no portal and not a direct chat. */
  onGhostInvite(event: RoomEvent, address: PeopleAddress): Promise<void> {
    return this.o.service.exclusive(() => this.admit(event, address));
  }

  private async admit(event: RoomEvent, address: PeopleAddress): Promise<void> {
    const room = event.roomId;
    const ghost = this.o.ghosts.ghostId(address);
    const decline = async (reason: string, why: string): Promise<void> => {
      this.o.log.info({ room, address, why }, "declined an invite into a room from Matrix");
      await this.o.ghosts.leave(ghost, room, reason);
    };
    if (!this.o.permissions.allows(event.sender, "user")) return decline(REFUSAL, "not permitted");
    let account;
    try {
      account = await this.o.people.accountFor(event.sender);
    } catch (err) {
      if (isUserError(err)) return decline(err.userText, err.message);
      throw err;
    }
    if (address === account.address) return decline("That is your own People address.", "own address");
    if (await this.o.people.matrixUserOf(address)) return decline(BRIDGED_GHOST_TEXT, "a bridged user");
    if ((await account.lookup(address)).status === "unknown")
      return decline(`${address} has no People account.`, "unknown address");
    await this.o.ghosts.ensureGhost(ghost, address);
    await this.o.service.ensureJoined(ghost, room);
    const joined = await this.o.ghosts.joinedMembers(ghost, room);
    const ghosts = joined.flatMap((u) => this.o.ghosts.addressOf(u) ?? []);
    if (ghosts.length > this.o.maxGhosts)
      return decline(`A group room bridges at most ${this.o.maxGhosts} People addresses.`, "too many");
    if (ghosts.length < 2) {
      await this.o.service.tell(ghost, room, `waiting.${event.eventId}`, waitingText(address));
      this.o.log.info({ room }, "a room from Matrix waits for a second People address");
      return;
    }
    const users = [account.address];
    for (const user of joined) {
      if (user === event.sender || !this.o.permissions.allows(user, "user")) continue;
      // Other members who already have a People account here (never the bot, never a ghost).
      let other: PeopleAddress;
      try {
        other = this.o.people.addressFor(user);
      } catch (err) {
        if (isUserError(err)) continue; // cannot have an address: relay mode's member
        throw err;
      }
      if ((await this.o.people.matrixUserOf(other)) === user) users.push(other);
    }
    const set = participantSet([...users, ...ghosts]);
    const members = await this.o.service.membersOf(set);
    for (const a of ghosts) this.o.service.markJoined(this.o.ghosts.ghostId(a), room);
    await this.o.service.put(room, members, (this.o.now ?? Date.now)());
    await this.o.service.naming.follow(room, undefined, members);
    await this.o.service.tell(ghost, room, `members.${event.eventId}`, startedText(event.sender, set));
    this.o.log.info({ room, participants: set.length }, "a group conversation started from Matrix");
  }
}
