// The calls feature composed for startBridge: Element's call events taken
// before the portals (MatrixCalls), the People rt_* messages taken by the
// feature's own flow (PeopleCalls), and at start the calls a restart left
// behind hung up. A small seam for MatrixRTC (src/bridge/adapters/rtc) to reuse: the
// PeopleCalls capability of an account (people-side.ts) places, answers and
// hangs up a People call for a Matrix user, given the SDP.
import type { PeopleAddress } from "../../people/protocol/address.js";
import { bridgeRegistry } from "../core/features/index.js";
import type { FeatureRegistry } from "../core/router.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide, RoomEvent } from "../core/ports/matrix-side.js";
import type { BridgeMetrics } from "../core/ports/metrics.js";
import type { IncomingHandler, PeopleSide } from "../core/ports/people-side.js";
import type { Permissions } from "../core/permissions.js";
import type { PortalService } from "../portals/portal-service.js";
import type { GroupService } from "../portals/group-service.js";
import type { BridgeStore } from "../core/ports/store.js";
import { CallContext } from "./call-context.js";
import { MatrixCalls } from "./matrix-calls.js";
import { PeopleCalls } from "./people-calls.js";

export interface BridgeCalls {
  /** True when the event was a call event (handled here). */
  handle(event: RoomEvent): Promise<boolean>;
  /** The accounts' message handler: the calls' People messages here, the rest to `next`. */
  withOwnFlow(next: IncomingHandler): IncomingHandler;
  /** Hangs up the calls a restart left behind (once the homeserver and People are reachable). */
  start(): Promise<void>;
}

export function createBridgeCalls(o: {
  ghosts: GhostSide;
  people: PeopleSide;
  store: Pick<BridgeStore, "calls">;
  portals: { service: PortalService; groups: GroupService };
  permissions: Permissions;
  /** Which types are the calls feature's (default: the bridge's features). */
  registry?: FeatureRegistry;
  metrics: BridgeMetrics;
  log: Logger;
}): BridgeCalls {
  const log = o.log.child({ component: "calls" });
  const registry = o.registry ?? bridgeRegistry();
  const dms = o.portals.service;
  const ctx = new CallContext({ ghosts: o.ghosts, store: o.store.calls, metrics: o.metrics, log });
  const matrix = new MatrixCalls({
    ctx,
    people: o.people,
    permissions: o.permissions,
    dms,
    groups: o.portals.groups,
  });
  const people = new PeopleCalls({
    ctx,
    people: o.people,
    dms,
    ensureGhost: (address: PeopleAddress) => o.ghosts.ensureGhost(o.ghosts.ghostId(address), address),
  });
  return {
    handle: matrix.handle,
    withOwnFlow: (next) => async (account, m) =>
      registry.ownFlowOf("people", m.content.type) === "calls" ? people.flow(account, m) : next(account, m),
    start: async () => {
      const n = await people.hangUpLeftovers();
      if (n > 0) log.info({ calls: n }, "hung up the calls a restart left behind");
    },
  };
}
