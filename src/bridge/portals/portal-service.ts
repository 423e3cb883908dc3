// DM portals: the room where one Matrix user talks with one People address,
// through the address's ghost. A portal is made three ways:
//   - the user invites a ghost to a direct chat (Element's "Start chat"): the
//     ghost joins;
//   - the `dm <address>` command: the ghost creates a direct chat and invites
//     the user;
//   - mail arrives from an address the user has no portal with: the same.
// A portal ends when its user leaves or its ghost is removed; the next
// message in either direction starts a new one. A portal made for incoming
// mail counts as a room of the sender (bridge.limits.rooms_per_sender_per_hour):
// past the limit the message is refused (LimitReached: logged, counted, let go).
import { addressDomain, type PeopleAddress } from "../../people/protocol/address.js";
import { isOnionHost } from "../../people/net/tor-route.js";
import { KeyedLock } from "../../shared/keyed-lock.js";
import { REFUSAL } from "../core/bot.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide, RoomEvent } from "../core/ports/matrix-side.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import { portalOwnerOf, type PeopleSide } from "../core/ports/people-side.js";
import type { Permissions } from "../core/permissions.js";
import type { Portal, PortalStore } from "../core/ports/store.js";
import type { BridgeState } from "./bridge-state.js";
import type { CreationLimiter } from "./creation-limiter.js";
import { lookupRefusal } from "./lookup-refusal.js";
import { BridgeError, userError, isUserError } from "../core/error-kinds.js";
import { notice, noticeContent } from "../core/notice.js";

const noAccountAt = (): never => {
  throw userError("Choosing the address with `--as` is not available on this bridge.");
};

export const GROUP_REFUSAL =
  "This room is another conversation's. For a conversation with several People addresses, make a room " +
  "(not a direct chat) and invite their ghosts, or invite them into your direct chat with one of them.";

export interface PortalServiceOptions {
  ghosts: GhostSide;
  portals: PortalStore;
  people: PeopleSide;
  permissions: Permissions;
  log: Logger;
  /** Rooms per People sender and hour, for the portals incoming mail makes (bridge.limits). */
  limits?: CreationLimiter;
  /** Sets a new portal's bridge state events (best effort; bridge-state.ts). */
  announce?: BridgeState["announce"];
  /** announce without waiting for it (a portal an invite opened; see BridgeState.announceSoon). */
  announceSoon?: BridgeState["announceSoon"];
  now?: () => number;
}

export interface PortalResult {
  portal: Portal;
  created: boolean;
}

export class PortalService {
  private readonly lock = new KeyedLock();
  private readonly now: () => number;

  constructor(private readonly o: PortalServiceOptions) {
    this.now = o.now ?? Date.now;
  }

  byRoom(roomId: string): Promise<Portal | undefined> {
    return this.o.portals.byRoom(roomId);
  }

  /** The address a ghost stands for, or null for any other user id. */
  addressOf(userId: string): PeopleAddress | null {
    return this.o.ghosts.addressOf(userId);
  }

  /** The portal of (user, own address `owner`, address); without `owner`, the pair's oldest. */
  byPair(user: string, address: PeopleAddress, owner?: PeopleAddress): Promise<Portal | undefined> {
    return this.o.portals.byPair(user, address, owner);
  }

  /**
   * The portal of (user, own address `owner`, address) for mail from `address`: the existing
   * room, or a direct chat the ghost creates and invites the user to, within the sender's room
   * limit (else LimitReached). Each own address of the user has its own portals.
   */
  ensurePortal(user: MatrixUserId, address: PeopleAddress, owner?: PeopleAddress): Promise<PortalResult> {
    return this.portalOf(user, address, owner, true);
  }

  private portalOf(
    user: MatrixUserId,
    address: PeopleAddress,
    owner: PeopleAddress | undefined,
    limited: boolean,
  ): Promise<PortalResult> {
    return this.lock.run(`${user}\n${owner ?? ""}\n${address}`, async () => {
      const existing = await this.o.portals.byPair(user, address, owner);
      if (existing) return { portal: existing, created: false };
      if (limited && (await this.o.limits?.take(address, { rooms: 1 }))) {
        throw new BridgeError("limit_reached", `${address} made the bridge open too many rooms this hour`);
      }
      const ghost = this.o.ghosts.ghostId(address);
      await this.o.ghosts.ensureGhost(ghost, address);
      const roomId = await this.o.ghosts.createDirectRoom(ghost, user);
      const portal: Portal = {
        roomId,
        matrixUser: user,
        ...(owner ? { ownerAddress: owner } : {}),
        peopleAddress: address,
        createdAt: this.now(),
      };
      await this.o.portals.put(portal);
      this.o.log.info({ room: roomId, user, address, owner }, "portal created");
      if (owner && owner !== this.madeAddress(user)) await this.tellOwner(ghost, portal, owner);
      await this.o.announce?.({ dm: portal });
      return { portal, created: true };
    });
  }

  /**
   * The contact of a DM portal moved (a verified notice): the room now stands for `to`, whose
   * ghost the old one invites and which joins; the old ghost stays, as the history's author.
   */
  moveContact(
    user: MatrixUserId,
    from: PeopleAddress,
    to: PeopleAddress,
    owner?: PeopleAddress,
  ): Promise<Portal | undefined> {
    return this.lock.run(`${user}\n${owner ?? ""}\n${from}`, async () => {
      const portal = await this.o.portals.byPair(user, from, owner);
      if (!portal || (await this.o.portals.byPair(user, to, owner))) return undefined;
      const moved: Portal = { ...portal, peopleAddress: to };
      await this.o.portals.put(moved);
      const ghost = this.o.ghosts.ghostId(to);
      await this.o.ghosts.ensureGhost(ghost, to);
      await this.o.ghosts.invite(this.o.ghosts.ghostId(from), portal.roomId, ghost);
      await this.o.ghosts.join(ghost, portal.roomId);
      this.o.log.info({ room: portal.roomId, user, from, to }, "portal follows its contact's move");
      return moved;
    });
  }

  /**
   * The `dm <address> [--as <own address>]` command: checks the address, then finds or makes the
   * portal of the own address given (or the user's default one, `use`).
   */
  async startDm(user: string, address: PeopleAddress, as?: PeopleAddress): Promise<PortalResult> {
    const people = this.o.people;
    const account = as
      ? await (people.accountAt ? people.accountAt(user, as) : noAccountAt())
      : await people.accountFor(user);
    if (address === account.address) throw userError("That is your own People address.");
    // The user is in it or invited: leaving (or declining) ends a portal.
    const existing = await this.o.portals.byPair(user, address, portalOwnerOf(account));
    if (existing) return { portal: existing, created: false };
    const found = await account.lookup(address);
    const refusal = lookupRefusal(address, found);
    if (refusal !== undefined) throw userError(refusal, `looking up the address: ${found.status}`);
    if (found.status === "unreachable") {
      const domain = addressDomain(address);
      // An onion is reached only through Tor: say so, so the admin knows where to look.
      const text = isOnionHost(domain)
        ? `The onion service ${domain} is not reachable (it may be down, or this bridge has no Tor proxy: people.tor.socks); try again later.`
        : `The People server of ${domain} cannot be reached right now; try again later.`;
      throw userError(text, `looking up the address failed: ${found.code}`);
    }
    // The user asked for it: no limit of the address applies.
    return this.portalOf(account.owner, address, portalOwnerOf(account), false);
  }

  /** The address the bridge makes for the user (undefined when it cannot make one). */
  private madeAddress(user: string): PeopleAddress | undefined {
    try {
      return this.o.people.addressFor(user);
    } catch {
      return undefined;
    }
  }

  /** The first line of a new portal of a logged-in address says which of the user's addresses writes here. */
  private async tellOwner(ghost: MatrixUserId, portal: Portal, owner: PeopleAddress): Promise<void> {
    await this.o.ghosts
      .sendEvent(
        ghost,
        portal.roomId,
        "m.room.message",
        noticeContent(notice(`You write here as \`${owner}\` (your People address in this chat).`)),
        `owner.${portal.roomId}`,
      )
      .catch((err: unknown) =>
        this.o.log.warn({ err, room: portal.roomId }, "could not name the portal's address"),
      );
  }

  /** m.room.member: a ghost invited to a direct chat; a portal's user or ghost gone. */
  async onMember(event: RoomEvent): Promise<void> {
    const target = event.stateKey;
    if (target === undefined) return;
    const membership = event.content.membership;
    const address = this.o.ghosts.addressOf(target);
    if (address && membership === "invite") return this.onGhostInvite(event, address);
    if (membership !== "leave" && membership !== "ban") return;
    const portal = await this.o.portals.byRoom(event.roomId);
    if (!portal) return;
    const ghost = this.o.ghosts.ghostId(portal.peopleAddress as PeopleAddress);
    if (target === portal.matrixUser) {
      await this.o.portals.remove(portal.roomId);
      this.o.log.info({ room: portal.roomId, user: target }, "portal closed: its user left");
      await this.o.ghosts
        .leave(ghost, portal.roomId)
        .catch((err: unknown) => this.o.log.warn({ err, room: portal.roomId }, "the ghost could not leave"));
    } else if (target === ghost) {
      await this.o.portals.remove(portal.roomId);
      this.o.log.info({ room: portal.roomId }, "portal closed: its ghost was removed");
    }
  }

  private async onGhostInvite(event: RoomEvent, address: PeopleAddress): Promise<void> {
    const ghost = this.o.ghosts.ghostId(address);
    const room = event.roomId;
    const decline = async (reason: string, why: string): Promise<void> => {
      this.o.log.info({ room, user: event.sender, address, why }, "declined an invite to a ghost");
      await this.o.ghosts.leave(ghost, room, reason);
    };
    const inRoom = await this.o.portals.byRoom(room);
    // The portal's previous ghost brought in the ghost of where the contact moved (moveContact).
    if (inRoom?.peopleAddress === address && this.o.ghosts.addressOf(event.sender)) return;
    if (this.o.permissions.levelOf(event.sender) === "none") return decline(REFUSAL, "not permitted");
    if (event.content.is_direct !== true) return decline(GROUP_REFUSAL, "not a direct chat");
    if (inRoom && (inRoom.peopleAddress !== address || inRoom.matrixUser !== event.sender)) {
      return decline(GROUP_REFUSAL, "the room is another portal");
    }
    // Where an invite's time goes (the scale bench sums these from the log line below).
    const ms: Record<string, number> = {};
    const timed = async <T>(step: string, work: () => Promise<T>): Promise<T> => {
      const start = performance.now();
      try {
        return await work();
      } finally {
        ms[step] = Math.round(performance.now() - start);
      }
    };
    let account;
    try {
      account = await timed("account", () => this.o.people.accountFor(event.sender));
    } catch (err) {
      if (isUserError(err)) return decline(err.userText, err.message);
      throw err;
    }
    if (account.address === address) return decline("That is your own People address.", "own address");
    const owner = portalOwnerOf(account);
    // Rooms are handled side by side (room-lanes.ts): two invites of one pair must not both open a portal.
    await this.lock.run(`${account.owner}\n${owner}\n${address}`, async () => {
      if (!inRoom) {
        // Unreachable is no answer: the chat starts, and mail waits for the server.
        const found = await timed("lookup", () => account.lookup(address));
        const refusal = lookupRefusal(address, found);
        if (refusal !== undefined) return decline(refusal, found.status);
      }
      // Recorded before joining: a crash in between leaves a portal whose invite the homeserver redelivers.
      const { replaced } = await timed("record", () =>
        this.o.portals.put({
          roomId: room,
          matrixUser: account.owner,
          ownerAddress: owner,
          peopleAddress: address,
          createdAt: this.now(),
        }),
      );
      await timed("ghost", () => this.o.ghosts.ensureGhost(ghost, address));
      await timed("join", () => this.o.ghosts.join(ghost, room));
      // Not awaited when it can wait: the transaction (and every room behind it) does not wait for a label.
      const dm = { dm: { roomId: room, peopleAddress: address } };
      if (this.o.announceSoon) this.o.announceSoon(dm);
      else await timed("announce", async () => this.o.announce?.(dm));
      this.o.log.info({ room, user: account.owner, address, ms }, "portal opened by an invite");
      if (replaced) {
        await this.o.ghosts
          .leave(ghost, replaced, "This conversation continues in a newer room.")
          .catch((err: unknown) => this.o.log.warn({ err, room: replaced }, "the ghost could not leave"));
      }
    });
  }
}
