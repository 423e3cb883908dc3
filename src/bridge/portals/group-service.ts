// Group portals: the room of a People conversation with several
// participants. A People conversation is its participant set (PROTOCOL §11),
// so a group room stands for one set: the People addresses of the bridged
// Matrix users in it and the addresses of its ghosts. The room's current set
// is stored, its key unique, so every bridged account with a copy of a
// message finds the same room. Rooms are made from the People side (the
// first message of a set of 3 or more: the sender's ghost creates the room,
// invites the other ghosts and the bridged users) or from Matrix
// (group-from-matrix.ts); membership changes both ways (docs/ARCHITECTURE.md,
// "Group portals"). Each change: Matrix actions first, idempotent (joins,
// invites), then the store write, then the notice telling it, so whoever acts
// on it finds the new set (a crash before it loses the notice, never the
// change); the room's name and topic follow (group-naming.ts). Who may become
// a ghost, and how many rooms and ghosts one sender may cause per hour:
// group-admission.ts, creation-limiter.ts; what cannot get a room is shown in
// the sender's DM with a notice. This file: the rooms and the People side;
// group-membership.ts: the Matrix side.
import { KeyedLock } from "../../shared/keyed-lock.js";
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import { leftOutText, overLimitText, type LeftOutReason } from "../model/creation-limits.js";
import {
  groupRoomName,
  membershipChange,
  participantSet,
  routeMessage,
  setKey,
  changeText,
  type ParticipantSet,
} from "../model/participant-set.js";
import { notice, noticeContent } from "../core/notice.js";
import type { IncomingMessage, PeopleAccount, PeopleSide } from "../core/ports/people-side.js";
import type { PortalView } from "./portal-view.js";
import type { GroupMember, GroupPortal, GroupPortalStore } from "../core/ports/store.js";
import type { CreationLimiter } from "./creation-limiter.js";
import type { BridgeState } from "./bridge-state.js";
import { answersFor, lookUp, newLookups, type Lookups } from "./group-admission.js";
import type { PortalService } from "./portal-service.js";
import { BridgeError } from "../core/error-kinds.js";
import { GroupNaming, groupRoomTopic } from "./group-naming.js";
import { removeLeftOutUsers } from "./group-left-out.js";

export interface GroupServiceOptions {
  ghosts: GhostSide;
  groups: GroupPortalStore;
  people: PeopleSide;
  log: Logger;
  /** The most ghosts a group room gets (bridge.groups.max_ghosts). */
  maxGhosts: number;
  /** Rooms and ghosts per sender and hour (bridge.limits); without it, no limit. */
  limits?: CreationLimiter;
  /** The DM portals, where a conversation the bridge makes no room for is shown (PortalService). */
  dms?: Pick<PortalService, "ensurePortal">;
  announce?: BridgeState["announce"];
  now?: () => number;
}

/** Where a People message goes: a DM portal, a group room, or nowhere (no room, and none made for it). */
export type GroupRoute = { kind: "dm" } | { kind: "room"; roomId: string } | { kind: "none" };

/** A route, or the addresses to look up before one can be decided. */
type Decision = GroupRoute | { kind: "lookup"; addresses: PeopleAddress[] };

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
  readonly naming: GroupNaming;

  constructor(private readonly o: GroupServiceOptions) {
    this.now = o.now ?? Date.now;
    this.naming = new GroupNaming({ ghosts: o.ghosts, log: o.log });
  }

  /** Runs `fn` alone among the routing and membership decisions. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run("groups", fn);
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
   * Throws a `group_refused` BridgeError for a conversation the bridge does not take.
   */
  async route(m: IncomingMessage, create: boolean, account: PeopleAccount): Promise<GroupRoute> {
    // The addresses a room would take are looked up outside the lock, so a slow server holds up
    // this message only; the decision is then made again with their answers.
    const looked = newLookups();
    for (;;) {
      const decision = await this.exclusive(() => this.decide(m, create, account, looked));
      if (decision.kind !== "lookup") return decision;
      await lookUp(account, looked, decision.addresses);
    }
  }

  private async decide(
    m: IncomingMessage,
    create: boolean,
    account: PeopleAccount,
    looked: Lookups,
  ): Promise<Decision> {
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
        return this.changeFromPeople(group, set, m, account, looked);
      }
      await this.joinGhosts(group.roomId, set, m.from);
      return { kind: "room", roomId: group.roomId };
    }
    await this.checkSize(set);
    const existing = await this.o.groups.bySetKey(setKey(set));
    if (existing) {
      await this.joinGhosts(existing.roomId, set, m.from);
      return { kind: "room", roomId: existing.roomId };
    }
    if (!create) return { kind: "none" };
    return this.admit(set, m, account, looked);
  }

  /** A new conversation: the room of the addresses that resolve, made within the sender's limits. */
  private async admit(
    set: ParticipantSet,
    m: IncomingMessage,
    account: PeopleAccount,
    looked: Lookups,
  ): Promise<Decision> {
    const ghosts = (await this.membersOf(set))
      .filter((x) => !x.matrixUser && x.address !== m.from)
      .map((x) => x.address as PeopleAddress);
    const leftOut = answersFor(looked, ghosts);
    if (!leftOut) return { kind: "lookup", addresses: ghosts };
    const admitted = participantSet(set.filter((a) => !leftOut.has(a)));
    if (admitted.length <= 2) return this.toDm(account, m, leftOutText(m.from, leftOut, true));
    const existing = await this.o.groups.bySetKey(setKey(admitted));
    let roomId = existing?.roomId;
    if (roomId) await this.joinGhosts(roomId, admitted, m.from);
    else {
      const over = await this.o.limits?.take(m.from, { rooms: 1, ghosts: ghosts.length - leftOut.size });
      if (over)
        return this.toDm(
          account,
          m,
          overLimitText(
            m.from,
            set.filter((a) => a !== m.from),
          ),
        );
      roomId = await this.createRoom(admitted, m.from);
    }
    await this.tellLeftOut(roomId, m, leftOut);
    return { kind: "room", roomId };
  }

  /** The message shown in the DM of the receiving user and the sender, after a notice (a repeat sends neither twice). */
  private async toDm(account: PeopleAccount, m: IncomingMessage, text: string): Promise<GroupRoute> {
    if (!this.o.dms)
      throw new BridgeError("group_refused", `no room for a conversation of ${m.from}: ${text}`);
    const { portal } = await this.o.dms.ensurePortal(account.owner, m.from, account.address);
    await this.tell(this.o.ghosts.ghostId(m.from), portal.roomId, `dm.${m.from}.${m.id}`, text);
    this.o.log.info({ room: portal.roomId }, "a group message is shown in the DM of its sender");
    return { kind: "room", roomId: portal.roomId };
  }

  private async tellLeftOut(
    roomId: string,
    m: IncomingMessage,
    leftOut: ReadonlyMap<PeopleAddress, LeftOutReason>,
  ): Promise<void> {
    if (leftOut.size === 0) return;
    this.o.log.info({ room: roomId, left_out: leftOut.size }, "addresses of a group message were left out");
    const text = leftOutText(m.from, leftOut, false);
    await this.tell(this.o.ghosts.ghostId(m.from), roomId, `left-out.${m.from}.${m.id}`, text);
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

  async checkSize(set: ParticipantSet): Promise<void> {
    const ghosts = (await this.membersOf(set)).filter((m) => !m.matrixUser).length;
    if (ghosts > this.o.maxGhosts) {
      throw new BridgeError(
        "group_refused",
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
      topic: groupRoomTopic(members),
      invite: [...ghosts.filter((a) => a !== from).map((a) => this.o.ghosts.ghostId(a)), ...users],
      admins: users,
    });
    this.joined.add(`${creator}\n${roomId}`);
    // Recorded before the ghosts join: a crash in between leaves invites that joinGhosts completes.
    await this.put(roomId, members, this.now());
    await this.joinGhosts(roomId, set, from);
    await this.o.announce?.({ group: { roomId, members, createdAt: this.now() } });
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

  /**
   * A member's reply with another set: the addresses that resolve are added (within the sender's
   * ghost limit), the ones left out named. Resolves with the room the message goes to.
   */
  private async changeFromPeople(
    group: GroupPortal,
    asked: ParticipantSet,
    m: IncomingMessage,
    account: PeopleAccount,
    looked: Lookups,
  ): Promise<Decision> {
    await this.checkSize(asked);
    const before = setOf(group);
    const candidates = (await this.membersOf(participantSet(membershipChange(before, asked).added)))
      .filter((x) => !x.matrixUser)
      .map((x) => x.address as PeopleAddress);
    const leftOut = answersFor(looked, candidates);
    if (!leftOut) return { kind: "lookup", addresses: candidates };
    const ghosts = candidates.filter((a) => !leftOut.has(a));
    if (ghosts.length && (await this.o.limits?.take(m.from, { ghosts: ghosts.length }))) {
      for (const a of ghosts) leftOut.set(a, "limit");
    }
    const set = participantSet(asked.filter((a) => !leftOut.has(a)));
    if (set.length <= 2) return this.toDm(account, m, leftOutText(m.from, leftOut, true));
    const change = membershipChange(before, set);
    if (!change.added.length && !change.removed.length) {
      await this.joinGhosts(group.roomId, set, m.from);
      await this.tellLeftOut(group.roomId, m, leftOut);
      return { kind: "room", roomId: group.roomId };
    }
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
    // Matrix users left out are told and removed after the notice; ghosts left out leave now.
    const leftOutUsers = (await this.membersOf(participantSet(change.removed))).flatMap((x) =>
      x.matrixUser ? [x.matrixUser as MatrixUserId] : [],
    );
    for (const a of change.removed) {
      if (await this.o.people.matrixUserOf(a)) continue;
      const ghost = this.o.ghosts.ghostId(a);
      this.joined.delete(`${ghost}\n${room}`);
      await this.o.ghosts
        .leave(ghost, room, `${m.from} left them out of the conversation`)
        .catch((err: unknown) => this.o.log.warn({ err, room }, "a removed ghost could not leave"));
    }
    await this.put(room, await this.membersOf(set), group.createdAt);
    await this.tell(sender, room, `members.${m.from}.${m.id}`, changeText(m.from, change, set));
    await this.tellLeftOut(room, m, leftOut);
    await removeLeftOutUsers(this.o, { room, users: leftOutUsers, by: m.from, key: `${m.from}.${m.id}` });
    this.o.log.info(
      { room, added: change.added.length, removed: change.removed.length },
      "group membership changed from People",
    );
    return { kind: "room", roomId: room };
  }

  forgetJoined(ghost: MatrixUserId, roomId: string): void {
    this.joined.delete(`${ghost}\n${roomId}`);
  }

  markJoined(ghost: MatrixUserId, roomId: string): void {
    this.joined.add(`${ghost}\n${roomId}`);
  }

  /** A ghost of the room, to speak the bridge's notices. */
  speaker(group: GroupPortal): MatrixUserId | undefined {
    const ghost = group.members.find((m) => !m.matrixUser);
    return ghost && this.o.ghosts.ghostId(ghost.address as PeopleAddress);
  }

  async tell(ghost: MatrixUserId, room: string, txnKey: string, text: string): Promise<void> {
    await this.o.ghosts.sendEvent(ghost, room, "m.room.message", noticeContent(notice(text)), txnKey);
  }

  async put(roomId: string, members: GroupMember[], createdAt: number): Promise<void> {
    const key = setKey(participantSet(members.map((m) => m.address as PeopleAddress)));
    const [older, before] = [await this.o.groups.bySetKey(key), await this.o.groups.byRoom(roomId)];
    const { replaced } = await this.o.groups.put({ roomId, members, createdAt });
    if (replaced && older?.roomId === replaced) await this.retire(older);
    if (before) await this.naming.follow(roomId, before.members, members);
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
}
