// The portals, composed: the DM service and the group service (rooms), the
// two flows, and the router of the appservice's room events.
import { bridgeRegistry } from "../core/features/index.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { BridgeMetrics } from "../core/ports/metrics.js";
import type { PeopleSide } from "../core/ports/people-side.js";
import type { Permissions } from "../core/permissions.js";
import type { BridgeStore } from "../core/ports/store.js";
import { MatrixToPeopleFlow } from "./matrix-to-people-flow.js";
import type { DoublePuppets } from "../core/ports/puppet-side.js";
import { PeopleToMatrixFlow, type PeopleToMatrixHooks } from "./people-to-matrix-flow.js";
import { PortalEvents } from "./portal-events.js";
import { PortalService } from "./portal-service.js";
import { RetryWindow } from "./retry-window.js";
import { GroupMembership } from "./group-membership.js";
import { GroupService } from "./group-service.js";
import { DEFAULT_MAX_GROUP_GHOSTS } from "../model/participant-set.js";
import {
  DEFAULT_GHOSTS_PER_SENDER_PER_HOUR,
  DEFAULT_ROOMS_PER_SENDER_PER_HOUR,
  type CreationLimits,
} from "../model/creation-limits.js";
import { CreationLimiter } from "./creation-limiter.js";
import { BridgeState, type Announced } from "./bridge-state.js";
import { SendStatusReporter } from "./send-status.js";
import { sentMessageOf } from "./send-status-recovery.js";
import { RoomRelays, relayHelpCommands } from "./room-relay.js";
import { GroupsFromMatrix } from "./group-from-matrix.js";
import type { Command } from "../core/commands.js";
import { relayConfigSchema, type RelayConfig } from "../model/relay-format.js";

export interface Portals {
  readonly service: PortalService;
  readonly groups: GroupService;
  readonly toPeople: MatrixToPeopleFlow;
  readonly toMatrix: PeopleToMatrixFlow;
  readonly events: PortalEvents;
  /** The portals' bridge state events (MSC2346), when the bridge names its bot and domain. */
  readonly state: BridgeState | undefined;
  readonly sendStatus?: SendStatusReporter;
  readonly relays: RoomRelays;
  /** The bot's `help` entries of the relay commands (sent in group rooms). */
  readonly relayHelp: Command[];
}

export function createPortals(o: {
  ghosts: GhostSide;
  people: PeopleSide;
  store: Pick<BridgeStore, "portals" | "messages" | "groups" | "relays"> &
    Partial<Pick<BridgeStore, "senderCreations" | "sendStatus" | "bridgeStates">>;
  permissions: Permissions;
  log: Logger;
  metrics: BridgeMetrics;
  hooks?: PeopleToMatrixHooks;
  /** True while the homeserver is known to be away: People → Matrix retries then do not count toward giving up. */
  homeserverDown?: () => boolean;
  /** The largest media bridged either way (default 100 MB). */
  maxMediaBytes?: number;
  /** The most ghosts a group room gets from the People side (default 64). */
  maxGroupGhosts?: number;
  /** Rooms and ghosts per People sender and hour (bridge.limits; the defaults without it). */
  limits?: CreationLimits;
  /** How long a Matrix event is tried again (shared with the bridge's retry queue, which seeds it). */
  retry?: RetryWindow;
  /** Who the bridge state events name: the bot and the bridge's People domain (none: no state events). */
  bridgeInfo?: { botUserId: string; peopleDomain: string };
  /** Send status of Matrix → People messages: bridge.message_status_events and bridge.delivery_timeout. */
  sendStatus?: { events: boolean; timeoutMs: number };
  /** Relay mode in group rooms (bridge.relay; off without it). */
  relay?: RelayConfig;
  /** Double puppeting for own copies (bridge.double_puppet; off without it). */
  puppets?: DoublePuppets;
  /** Leaves Matrix → People durable writes to the running homeserver transaction (TransactionWrites). */
  deferWrite?: (write: Promise<void>) => boolean;
}): Portals {
  const retry = o.retry ?? new RetryWindow();
  const media = o.maxMediaBytes ? { maxMediaBytes: o.maxMediaBytes } : {};
  const log = o.log.child({ component: "portals" });
  const limiter = o.store.senderCreations
    ? new CreationLimiter({
        store: o.store.senderCreations,
        limits: o.limits ?? {
          roomsPerHour: DEFAULT_ROOMS_PER_SENDER_PER_HOUR,
          ghostsPerHour: DEFAULT_GHOSTS_PER_SENDER_PER_HOUR,
        },
        log,
      })
    : undefined;
  const limits = limiter ? { limits: limiter } : {};
  const state = o.bridgeInfo
    ? new BridgeState({
        ghosts: o.ghosts,
        portals: o.store.portals,
        groups: o.store.groups,
        botUserId: o.bridgeInfo.botUserId,
        peopleDomain: o.bridgeInfo.peopleDomain,
        log,
        ...(o.store.bridgeStates ? { records: o.store.bridgeStates } : {}),
      })
    : undefined;
  const announce = state ? { announce: state.announce.bind(state) } : {};
  const service = new PortalService({
    ghosts: o.ghosts,
    portals: o.store.portals,
    people: o.people,
    permissions: o.permissions,
    log,
    ...limits,
    ...announce,
    ...(state ? { announceSoon: state.announceSoon.bind(state) } : {}),
  });
  const groupOptions = {
    ghosts: o.ghosts,
    groups: o.store.groups,
    portals: o.store.portals,
    people: o.people,
    permissions: o.permissions,
    log,
    maxGhosts: o.maxGroupGhosts ?? DEFAULT_MAX_GROUP_GHOSTS,
    dms: service,
    ...limits,
    ...announce,
  };
  const groups = new GroupService(groupOptions);
  const membership = new GroupMembership({ ...groupOptions, service: groups });
  // Told by the outbox of every account what became of each copy (needs the store's send_status).
  const sendStatus =
    o.sendStatus && o.store.sendStatus
      ? new SendStatusReporter({
          ghosts: o.ghosts,
          store: o.store.sendStatus,
          statusEvents: o.sendStatus.events,
          log: o.log.child({ component: "send-status" }),
          recover: sentMessageOf({ messages: o.store.messages, service, groups }),
        })
      : undefined;
  if (sendStatus) o.people.onOutbox?.((report) => void sendStatus.report(report));
  // Built at start from the features' claims: two features claiming one type stop the start here.
  const registry = bridgeRegistry();
  const toPeople = new MatrixToPeopleFlow({
    registry,
    ghosts: o.ghosts,
    people: o.people,
    messages: o.store.messages,
    permissions: o.permissions,
    log,
    metrics: o.metrics,
    retry,
    ...media,
    ...(sendStatus ? { status: sendStatus, deliveryTimeoutMs: o.sendStatus!.timeoutMs } : {}),
    ...(o.deferWrite ? { deferWrite: o.deferWrite } : {}),
  });
  const toMatrix = new PeopleToMatrixFlow({
    registry,
    ghosts: o.ghosts,
    portals: service,
    groups,
    messages: o.store.messages,
    log,
    metrics: o.metrics,
    ...media,
    ...(o.hooks ? { hooks: o.hooks } : {}),
    ...(o.homeserverDown ? { homeserverDown: o.homeserverDown } : {}),
    ...(o.puppets ? { puppets: o.puppets } : {}),
  });
  const fromMatrix = new GroupsFromMatrix({ ...groupOptions, service: groups });
  const relay = o.relay ?? relayConfigSchema.parse({});
  const relays = new RoomRelays({
    config: relay,
    relays: o.store.relays,
    groups,
    membership,
    toPeople,
    ghosts: o.ghosts,
    people: o.people,
    permissions: o.permissions,
    registry,
    log,
  });
  return {
    service,
    groups,
    toPeople,
    toMatrix,
    relays,
    relayHelp: relayHelpCommands(relay.enabled),
    events: new PortalEvents({
      service,
      toPeople,
      groups,
      membership,
      relays,
      fromMatrix,
      retry,
      registry,
      log,
      ...(state ? { bridgeStateChanged: (what: Announced) => state.changedElsewhere(what) } : {}),
    }),
    state,
    ...(sendStatus ? { sendStatus } : {}),
  };
}
