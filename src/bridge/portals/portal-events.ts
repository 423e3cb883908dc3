// The portals' share of the appservice's room events: membership (ghost
// invites, portals ending, group membership) to the PortalService or the
// GroupService, everything else in a portal room to the Matrix → People flow.
// An unexpected failure asks for the event to be tried again for a while
// (RetryLater, the bridge's retry queue; RetryWindow) instead of being
// acknowledged silently; past the window it is logged and counted.
import type { EphemeralEvent, RoomEvent } from "../core/ports/matrix-side.js";
import type { GroupMembership } from "./group-membership.js";
import type { GroupService } from "./group-service.js";
import type { MatrixToPeopleFlow } from "./matrix-to-people-flow.js";
import type { PortalService } from "./portal-service.js";
import type { RoomRelays } from "./room-relay.js";
import type { GroupsFromMatrix } from "./group-from-matrix.js";
import type { PeopleAddress } from "../../people/protocol/address.js";
import { RetryWindow } from "./retry-window.js";
import { bridgeRegistry } from "../core/features/index.js";
import type { FeatureRegistry } from "../core/router.js";
import type { Logger } from "../core/ports/logger.js";
import { retryLater, isRetryLater } from "../core/error-kinds.js";
import { BRIDGE_STATE_TYPES } from "../model/bridge-info.js";
import type { Announced } from "./bridge-state.js";

export class PortalEvents {
  private readonly retry: RetryWindow;
  private readonly registry: FeatureRegistry;

  constructor(
    private readonly o: {
      service: PortalService;
      toPeople: MatrixToPeopleFlow;
      groups?: GroupService;
      membership?: GroupMembership;
      /** `!people` commands in group rooms, and members without a People address (relay mode). */
      relays?: RoomRelays;
      /** Rooms made on Matrix (not direct chats) that become group portals. */
      fromMatrix?: GroupsFromMatrix;
      retry?: RetryWindow;
      /** A portal's bridge state changed by someone other than a ghost (BridgeState.changedElsewhere). */
      bridgeStateChanged?: (what: Announced) => Promise<void>;
      /** Which types are bridged, answered or ignored (default: the bridge's features). */
      registry?: FeatureRegistry;
      log?: Logger;
    },
  ) {
    this.retry = o.retry ?? new RetryWindow();
    this.registry = o.registry ?? bridgeRegistry();
  }

  async handle(event: RoomEvent): Promise<void> {
    try {
      await this.route(event);
      this.retry.succeeded(event.eventId);
    } catch (err) {
      if (isRetryLater(err)) throw err;
      if (this.retry.failed(event.eventId))
        throw retryLater("handling a portal event failed", { cause: err });
      throw err;
    }
  }

  /** Receipts and typing in a portal room, best effort: no portal is made for them, nothing retried. */
  async handleEphemeral(event: EphemeralEvent): Promise<void> {
    const fate = this.registry.fate("matrix.ephemeral", event.type);
    if (fate.kind !== "bridged") {
      this.o.log?.debug(
        { type: event.type, why: fate.kind === "ignored" ? fate.reason : fate.text },
        "not bridged",
      );
      return;
    }
    const group = await this.o.groups?.byRoom(event.roomId);
    if (group) {
      for (const m of group.members) {
        const view = m.matrixUser && this.o.groups!.viewFor(group, m.matrixUser);
        if (view) await this.o.toPeople.handleEphemeral(event, view);
      }
      return;
    }
    const portal = await this.o.service.byRoom(event.roomId);
    if (portal) await this.o.toPeople.handleEphemeral(event, portal);
  }

  private async route(event: RoomEvent): Promise<void> {
    const { groups, membership } = this.o;
    const group = await groups?.byRoom(event.roomId);
    if (this.isForeignBridgeState(event)) {
      const portal = group ? undefined : await this.o.service.byRoom(event.roomId);
      const what = group ? { group } : portal && { dm: portal };
      if (what) await this.o.bridgeStateChanged?.(what);
      return;
    }
    if (event.type === "m.room.member") {
      if (membership && (group || (await this.dmBecomingGroup(event)))) {
        return membership.onMember(event, group, await this.o.service.byRoom(event.roomId));
      }
      const fresh = this.o.fromMatrix && (await this.freshRoomInvite(event));
      if (fresh) return this.o.fromMatrix!.onGhostInvite(event, fresh);
      return this.o.service.onMember(event);
    }
    if (group) {
      if (await this.o.relays?.command(event, group)) return;
      const view = groups!.viewFor(group, event.sender);
      if (view) await this.o.toPeople.handle(event, view);
      else if (this.o.relays) await this.o.relays.nonParticipant(event, group);
      else await membership?.notParticipant(event, group);
      return;
    }
    const portal = await this.o.service.byRoom(event.roomId);
    if (portal) await this.o.toPeople.handle(event, portal);
  }

  /** A bridge state event (MSC2346) set by someone other than a ghost: the bridge's label touched. */
  private isForeignBridgeState(event: RoomEvent): boolean {
    return (
      this.o.bridgeStateChanged !== undefined &&
      event.stateKey !== undefined &&
      (BRIDGE_STATE_TYPES as readonly string[]).includes(event.type) &&
      !this.o.service.addressOf(event.sender)
    );
  }

  /** A ghost invited into a room that is not a direct chat and no portal: its address. */
  private async freshRoomInvite(event: RoomEvent): Promise<PeopleAddress | undefined> {
    if (event.content.membership !== "invite" || event.stateKey === undefined) return undefined;
    if (event.content.is_direct === true) return undefined;
    const address = this.o.service.addressOf(event.stateKey);
    if (!address || (await this.o.service.byRoom(event.roomId))) return undefined;
    return address;
  }

  /** A ghost of another address invited into a DM portal by its user. */
  private async dmBecomingGroup(event: RoomEvent): Promise<boolean> {
    if (event.content.membership !== "invite" || event.stateKey === undefined) return false;
    const address = this.o.service.addressOf(event.stateKey);
    if (!address) return false;
    const portal = await this.o.service.byRoom(event.roomId);
    return portal !== undefined && portal.peopleAddress !== address && portal.matrixUser === event.sender;
  }
}
