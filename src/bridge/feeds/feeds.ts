// The feeds feature composed for startBridge: the service (feed rooms), its
// Matrix events, its commands, and the People messages it carries itself
// (post notices, by the registry's ownFlow), taken before the message flow.
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide, MatrixSide, RoomEvent } from "../core/ports/matrix-side.js";
import type { IncomingHandler, PeopleSide } from "../core/ports/people-side.js";
import type { FeatureRegistry } from "../core/router.js";
import type { Command } from "../core/commands.js";
import type { BridgeStore } from "../core/ports/store.js";
import type { BridgeConfig } from "../config.js";
import { bridgeRegistry } from "../core/features/index.js";
import { feedCommands } from "./feed-commands.js";
import { FeedEvents } from "./feed-events.js";
import { FeedProfiles } from "./feed-profile.js";
import { FeedService } from "./feed-service.js";
import { postRoomCommands } from "./post-room-commands.js";
import { PostRoomDetails } from "./post-room-details.js";
import { PostRoomEvents } from "./post-room-events.js";
import { PostRooms } from "./post-rooms.js";
import { RetryWindow } from "../portals/retry-window.js";

export interface Feeds {
  readonly service: FeedService;
  readonly events: FeedEvents;
  readonly postRooms: PostRooms;
  /** A feed room's or a post room's event: true when it was one (and handled). */
  handle(event: RoomEvent): Promise<boolean>;
  readonly commands: Command[];
  /** Stops the periodic reads. */
  stop(): Promise<void>;
  /** The accounts' message handler: post notices to the feeds, the rest to `next`. */
  withOwnFlows(next: IncomingHandler): IncomingHandler;
}

export function createFeeds(o: {
  ghosts: GhostSide;
  people: PeopleSide;
  store: Pick<BridgeStore, "feeds" | "postRooms">;
  log: Logger;
  config: Pick<BridgeConfig, "bridge" | "people">;
  /** The bot, which makes the post rooms and answers in them. */
  matrix: Pick<MatrixSide, "sendNotice" | "leaveRoom" | "botUserId">;
  retry?: RetryWindow;
  /** The ghost profiles' refreshes, which feed rooms follow (profiles/ghost-profiles.ts). */
  profiles?: { onProfile(listener: FeedProfiles["seen"]): void };
}): Feeds {
  const log = o.log.child({ component: "feeds" });
  const store = o.store.feeds;
  const service = new FeedService({
    ghosts: o.ghosts,
    people: o.people,
    store,
    log,
    backfillLimit: o.config.bridge.feeds.backfill_limit,
    pollIntervalMs: o.config.bridge.feeds.poll_interval,
    maxMediaBytes: o.config.people.limits.max_blob_bytes,
  });
  o.profiles?.onProfile(new FeedProfiles({ ghosts: o.ghosts, store, log }).seen);
  const events = new FeedEvents({ feeds: service, store, ghosts: o.ghosts, people: o.people, log });
  const maxMediaBytes = o.config.people.limits.max_blob_bytes;
  const postRooms = new PostRooms({
    ghosts: o.ghosts,
    people: o.people,
    store: o.store.postRooms,
    feedStore: store,
    botUserId: o.matrix.botUserId,
    log,
    maxMediaBytes,
  });
  const postEvents = new PostRoomEvents({
    rooms: postRooms,
    matrix: o.matrix,
    ghosts: o.ghosts,
    log,
    retry: o.retry ?? new RetryWindow(),
    maxMediaBytes,
  });
  const details = new PostRoomDetails({
    ghosts: o.ghosts,
    store: o.store.postRooms,
    botUserId: o.matrix.botUserId,
    log,
  });
  // A post notice: its author's feed room reads on, and a post group's room shows a member's post.
  // A group key from the owner's other device: the group's room follows its details.
  const onNotice: IncomingHandler = async (account, m) => {
    if (m.content.type === "group_key") return details.onKey(account, m);
    await service.onNotice(account, m);
    await postRooms.onNotice(account, m);
  };
  return {
    service,
    events,
    postRooms,
    handle: async (event) => (await events.handle(event)) || (await postEvents.handle(event)),
    commands: [...feedCommands(service), ...postRoomCommands(postRooms)],
    stop: async () => service.stop(),
    withOwnFlows: (next) => withOwnFlows(bridgeRegistry(), { feeds: onNotice }, next),
  };
}

/**
 * The accounts' message handler: a type a feature carries in its own flow goes to that
 * feature's handler; everything else to `next` (the People → Matrix flow).
 */
export function withOwnFlows(
  registry: FeatureRegistry,
  flows: Readonly<Record<string, IncomingHandler>>,
  next: IncomingHandler,
): IncomingHandler {
  return async (account, m) => {
    const feature = registry.ownFlowOf("people", m.content.type);
    const flow = feature === undefined ? undefined : flows[feature];
    return flow ? flow(account, m) : next(account, m);
  };
}
