// Group portals: the room of a People conversation with several
// participants. A People conversation is its participant set (PROTOCOL §11),
// so a group room stands for one set: the People addresses of the bridged
// Matrix users in it and the addresses of its ghosts. The room's current set
// is stored, its key unique, so every bridged account that receives a copy of
// a message finds the same room.
//
// Rooms are made from the People side: the first message of a set with 3 or
// more participants has the sender's ghost create a room (not a direct
// chat), invite the other ghosts (who join) and the bridged Matrix users.
// Membership changes both ways (docs/ARCHITECTURE.md, "Group portals"):
//   People → Matrix: a message that replies to (edits, reacts to) a message
//     of a group room, sent by a member of that room's set, continues that
//     conversation: if its set differs, ghosts of added addresses join, ghosts
//     of removed ones leave, and the room's set becomes the message's.
//   Matrix → People: a ghost invited into a group room (or into a DM portal,
//     which becomes a group) is added; a ghost kicked or a Matrix user leaving
//     is removed; a bridged Matrix user joining is added. The next message
//     goes to the new set.
// Each change is told in the room by a notice. Matrix actions come first and
// are idempotent (joins, invites, notices with stable transaction ids), the
// store write last, so a redelivery after a crash repeats them harmlessly.
import { KeyedLock } from "../../people/client/lock.js";
import type { PeopleAddress } from "../../people/protocol/address.js";
import { REFUSAL } from "../bot.js";
import { UserError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { GhostSide, RoomEvent } from "../matrix-side.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import {
  groupRoomName,
  participantSet,
  routeMessage,
  setKey,
  type MembershipChange,
  type ParticipantSet,
} from "../model/participant-set.js";
import { notice, noticeContent } from "../notice.js";
import type { IncomingMessage, PeopleSide } from "../people-side.js";
import type { Permissions } from "../permissions.js";
import type { PortalView } from "./matrix-to-people-flow.js";
import type { GroupMember, GroupPortal, GroupPortalStore, Portal, PortalStore } from "../store/types.js";

export const NOT_PARTICIPANT_TEXT =
  "Not delivered: you are not in this People conversation (only its participants' messages are sent).";

/** A conversation the bridge will not make (or grow) a room for; the message is let go. */
export class GroupRefused extends Error {}

export interface GroupServiceOptions {
  ghosts: GhostSide;
  groups: GroupPortalStore;
  /** The DM portals, for a DM that becomes a group. */
  portals: PortalStore;
  people: PeopleSide;
  permissions: Permissions;
  log: Logger;
  /** The most ghosts a group room gets (bridge.groups.max_ghosts). */
  maxGhosts: number;
  now?: () => number;
}

/** Where a People message goes: a DM portal, a group room, or nowhere (no room, and none made for it). */
export type GroupRoute = { kind: "dm" } | { kind: "room"; roomId: string } | { kind: "none" };

/** Message ids a People message points at (reply, edit, reaction, redaction, receipt). */
export function referencedMessages(content: IncomingMessage["content"]): string[] {
  const c = content as { reply_to?: unknown; target?: unknown; targets?: unknown };
  const ids = [c.reply_to, c.target, ...(Array.isArray(c.targets) ? c.targets : [])];
  return ids.filter((id): id is string => typeof id === "string");
}

export function setOf(group: GroupPortal): ParticipantSet {
  return participantSet(group.members.map((m) => m.address as PeopleAddress));
}

export class GroupService {
  /** One lock for every routing and membership decision: they read and write the sets of several rooms. */
  private readonly lock = new KeyedLock();
  /** Ghosts known to be joined to a room, in this process. */
  private readonly joined = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly o: GroupServiceOptions) {
    this.now = o.now ?? Date.now;
  }

  byRoom(roomId: string): Promise<GroupPortal | undefined> {
    return this.o.groups.byRoom(roomId);
  }

  /** The Matrix user an address belongs to, when it is a bridged account. */
  bridgedUser(address: PeopleAddress): Promise<MatrixUserId | undefined> {
    return this.o.people.matrixUserOf(address);
  }

  /** How the flow sees the room when `user` speaks in it; undefined when they are not a participant. */
  viewFor(group: GroupPortal, user: string): PortalView | undefined {
    const me = group.members.find((m) => m.matrixUser === user);
    const ghost = group.members.find((m) => !m.matrixUser);
    if (!me || !ghost) return undefined;
    const to = group.members.filter((m) => m !== me).map((m) => m.address as PeopleAddress);
    return {
      roomId: group.roomId,
      matrixUser: user,
      to,
      noticeGhost: ghost.address as PeopleAddress,
      label: to.length === 1 ? to[0]! : `the People conversation (${to.join(", ")})`,
    };
  }

  /** The participants of a set: bridged Matrix users by their address, ghosts for the rest. */
  async membersOf(set: ParticipantSet): Promise<GroupMember[]> {
    const members: GroupMember[] = [];
    for (const address of set) {
      const user = await this.o.people.matrixUserOf(address);
      members.push(user ? { address, matrixUser: user } : { address });
    }
    return members;
  }

  /**
   * People → Matrix: the room of a message's conversation (made, or its set
   * changed, as the message says). `create` is false for receipts and typing.
   * Throws GroupRefused for a conversation the bridge does not take.
   */
  route(m: IncomingMessage, create: boolean): Promise<GroupRoute> {
    return this.lock.run("groups", async () => {
      const set = participantSet([m.from, ...m.to]);
      const ids = referencedMessages(m.content);
      const rooms = ids.length ? await this.o.groups.roomsOfMessages(ids) : [];
      const targets = [];
      for (const roomId of rooms) {
        const group = await this.o.groups.byRoom(roomId);
        if (group) targets.push({ roomId, set: setOf(group), group });
      }
      if (!create) {
        // A receipt names the messages read, not the whole conversation: any room of the sender's will do.
        const into = targets.find((t) => t.set.includes(m.from));
        if (into) return { kind: "room", roomId: into.roomId };
      }
      const route = routeMessage({ from: m.from, set, targets });
      if (route.kind === "dm") return { kind: "dm" };
      if (route.kind === "continue") {
        const group = targets.find((t) => t.roomId === route.roomId)!.group;
        if (route.change.added.length || route.change.removed.length) {
          if (!create) return { kind: "none" };
          await this.changeFromPeople(group, set, route.change, m);
        } else await this.joinGhosts(group.roomId, set, m.from);
        return { kind: "room", roomId: group.roomId };
      }
      await this.checkSize(set);
      const existing = await this.o.groups.bySetKey(setKey(set));
      if (existing) {
        await this.joinGhosts(existing.roomId, set, m.from);
        return { kind: "room", roomId: existing.roomId };
      }
      if (!create) return { kind: "none" };
      return { kind: "room", roomId: await this.createRoom(set, m.from) };
    });
  }

  /** Joins `ghost` to a group room (invited by `inviter` when it cannot join by itself). */
  async ensureJoined(ghost: MatrixUserId, roomId: string, inviter?: MatrixUserId): Promise<void> {
    const key = `${ghost}\n${roomId}`;
    if (this.joined.has(key)) return;
    try {
      await this.o.ghosts.join(ghost, roomId);
    } catch (err) {
      if (!inviter || inviter === ghost) throw err;
      await this.o.ghosts.invite(inviter, roomId, ghost);
      await this.o.ghosts.join(ghost, roomId);
    }
    this.joined.add(key);
  }

  /** m.room.member in a group room (or a ghost invited into a DM portal): membership from the Matrix side. */
  onMember(event: RoomEvent, group: GroupPortal | undefined, dm: Portal | undefined): Promise<void> {
    return this.lock.run("groups", async () => {
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

  private async checkSize(set: ParticipantSet): Promise<void> {
    const ghosts = (await this.membersOf(set)).filter((m) => !m.matrixUser).length;
    if (ghosts > this.o.maxGhosts) {
      throw new GroupRefused(
        `a conversation with ${ghosts} People addresses (the bridge makes rooms of at most ${this.o.maxGhosts})`,
      );
    }
  }

  private async createRoom(set: ParticipantSet, from: PeopleAddress): Promise<string> {
    const members = await this.membersOf(set);
    const creator = this.o.ghosts.ghostId(from);
    const ghosts = members.filter((m) => !m.matrixUser).map((m) => m.address as PeopleAddress);
    const users = members.flatMap((m) => (m.matrixUser ? [m.matrixUser] : []));
    for (const a of ghosts) await this.o.ghosts.ensureGhost(this.o.ghosts.ghostId(a), a);
    const roomId = await this.o.ghosts.createGroupRoom(creator, {
      name: groupRoomName(ghosts),
      invite: [...ghosts.filter((a) => a !== from).map((a) => this.o.ghosts.ghostId(a)), ...users],
      admins: users,
    });
    this.joined.add(`${creator}\n${roomId}`);
    // Recorded before the ghosts join: a crash in between leaves invites that joinGhosts completes.
    await this.put(roomId, members, this.now());
    await this.joinGhosts(roomId, set, from);
    this.o.log.info({ room: roomId, participants: set.length }, "group portal created");
    return roomId;
  }

  private async joinGhosts(roomId: string, set: ParticipantSet, from: PeopleAddress): Promise<void> {
    const inviter = this.o.ghosts.ghostId(from);
    for (const m of await this.membersOf(set)) {
      if (m.matrixUser) continue;
      const ghost = this.o.ghosts.ghostId(m.address as PeopleAddress);
      await this.o.ghosts.ensureGhost(ghost, m.address);
      await this.ensureJoined(ghost, roomId, inviter);
    }
  }

  private async changeFromPeople(
    group: GroupPortal,
    set: ParticipantSet,
    change: MembershipChange,
    m: IncomingMessage,
  ): Promise<void> {
    await this.checkSize(set);
    const sender = this.o.ghosts.ghostId(m.from);
    const room = group.roomId;
    await this.ensureJoined(sender, room);
    for (const a of change.added) {
      const user = await this.o.people.matrixUserOf(a);
      if (user) {
        await this.o.ghosts.invite(sender, room, user);
        continue;
      }
      const ghost = this.o.ghosts.ghostId(a);
      await this.o.ghosts.ensureGhost(ghost, a);
      await this.ensureJoined(ghost, room, sender);
    }
    for (const a of change.removed) {
      if (await this.o.people.matrixUserOf(a)) continue; // a Matrix user stays; they are told by the notice
      const ghost = this.o.ghosts.ghostId(a);
      this.joined.delete(`${ghost}\n${room}`);
      await this.o.ghosts
        .leave(ghost, room, `${m.from} left them out of the conversation`)
        .catch((err: unknown) => this.o.log.warn({ err, room }, "a removed ghost could not leave"));
    }
    await this.tell(sender, room, `members.${m.from}.${m.id}`, changeText(m.from, change, set));
    await this.put(room, await this.membersOf(set), group.createdAt);
    this.o.log.info(
      { room, added: change.added.length, removed: change.removed.length },
      "group membership changed from People",
    );
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
    const set = participantSet([...setOf(group), address]);
    if (set.length === group.members.length) {
      await this.ensureJoined(ghost, room);
      return;
    }
    const ghosts = (await this.membersOf(set)).filter((m) => !m.matrixUser).length;
    if (ghosts > this.o.maxGhosts) {
      return decline(`A group room bridges at most ${this.o.maxGhosts} People addresses.`, "too many");
    }
    const account = await this.o.people.accountFor(event.sender);
    if ((await account.lookup(address)).status === "unknown") {
      return decline(`${address} has no People account.`, "unknown address");
    }
    await this.o.ghosts.ensureGhost(ghost, address);
    await this.ensureJoined(ghost, room);
    await this.tell(ghost, room, `members.${event.eventId}`, addedText(event.sender, [address], set));
    await this.put(room, await this.membersOf(set), group.createdAt);
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
    if ((await account.lookup(address)).status === "unknown") {
      return this.o.ghosts.leave(ghost, room, `${address} has no People account.`);
    }
    const set = participantSet([account.address, dm.peopleAddress as PeopleAddress, address]);
    this.joined.add(`${this.o.ghosts.ghostId(dm.peopleAddress as PeopleAddress)}\n${room}`);
    await this.o.ghosts.ensureGhost(ghost, address);
    await this.ensureJoined(ghost, room);
    await this.tell(ghost, room, `members.${event.eventId}`, addedText(event.sender, [address], set));
    await this.put(room, await this.membersOf(set), this.now());
    await this.o.portals.remove(room);
    this.o.log.info({ room, address }, "a DM portal became a group");
  }

  private async addUser(event: RoomEvent, group: GroupPortal, user: string): Promise<void> {
    if (group.members.some((m) => m.matrixUser === user)) return;
    if (this.o.permissions.levelOf(user) === "none") return;
    let address: PeopleAddress;
    try {
      address = (await this.o.people.accountFor(user)).address;
    } catch (err) {
      if (err instanceof UserError) return;
      throw err;
    }
    const set = participantSet([...setOf(group), address]);
    const speaker = this.speaker(group);
    if (speaker) await this.tell(speaker, group.roomId, `members.${event.eventId}`, joinedText(address, set));
    await this.put(group.roomId, await this.membersOf(set), group.createdAt);
    this.o.log.info({ room: group.roomId, user }, "a Matrix user joined a group room");
  }

  private async removeMember(event: RoomEvent, group: GroupPortal, target: string): Promise<void> {
    const member = group.members.find(
      (m) => m.matrixUser === target || this.o.ghosts.ghostId(m.address as PeopleAddress) === target,
    );
    if (!member) return;
    const room = group.roomId;
    this.joined.delete(`${target}\n${room}`);
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
    const speaker = this.speaker(remaining);
    if (speaker) {
      await this.tell(speaker, room, `members.${event.eventId}`, removedText(member.address, set));
    }
    await this.put(room, await this.membersOf(set), group.createdAt);
    this.o.log.info({ room }, "a participant left a group room");
  }

  /** A ghost of the room, to speak the bridge's notices. */
  private speaker(group: GroupPortal): MatrixUserId | undefined {
    const ghost = group.members.find((m) => !m.matrixUser);
    return ghost && this.o.ghosts.ghostId(ghost.address as PeopleAddress);
  }

  private async tell(ghost: MatrixUserId, room: string, txnKey: string, text: string): Promise<void> {
    await this.o.ghosts.sendEvent(ghost, room, "m.room.message", noticeContent(notice(text)), txnKey);
  }

  private async put(roomId: string, members: GroupMember[], createdAt: number): Promise<void> {
    const key = setKey(participantSet(members.map((m) => m.address as PeopleAddress)));
    const older = await this.o.groups.bySetKey(key);
    const { replaced } = await this.o.groups.put({ roomId, members, createdAt });
    if (replaced && older?.roomId === replaced) await this.retire(older);
  }

  /** An older room of the same set stops being a portal: its ghosts leave it. */
  private async retire(older: GroupPortal): Promise<void> {
    this.o.log.info({ room: older.roomId }, "an older group room of the same conversation was retired");
    for (const m of older.members) {
      if (m.matrixUser) continue;
      const ghost = this.o.ghosts.ghostId(m.address as PeopleAddress);
      this.joined.delete(`${ghost}\n${older.roomId}`);
      await this.o.ghosts
        .leave(ghost, older.roomId, "This conversation continues in a newer room.")
        .catch((err: unknown) => this.o.log.warn({ err, room: older.roomId }, "a ghost could not leave"));
    }
  }

  /** A message in a group room from someone who is not (or no longer) a participant: told, not sent. */
  async notParticipant(event: RoomEvent, group: GroupPortal): Promise<void> {
    if (event.type !== "m.room.message" || this.o.ghosts.addressOf(event.sender)) return;
    const speaker = this.speaker(group);
    if (!speaker) return;
    const content = {
      ...noticeContent(notice(NOT_PARTICIPANT_TEXT)),
      "m.relates_to": { "m.in_reply_to": { event_id: event.eventId } },
    };
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

function changeText(from: PeopleAddress, change: MembershipChange, set: ParticipantSet): string {
  const parts = [
    ...(change.added.length ? [`added ${change.added.join(", ")}`] : []),
    ...(change.removed.length ? [`left out ${change.removed.join(", ")}`] : []),
  ];
  return `${from} ${parts.join(" and ")}. The conversation is now: ${everyone(set)}.`;
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
