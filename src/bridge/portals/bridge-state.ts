// Bridge state events (MSC2346) in the portal rooms: set when a portal is made,
// and checked at start (set only where missing or changed, a few rooms at a
// time). What each room was given is recorded (its state key and content): a
// start asks the homeserver only about rooms with no record or a different one
// (a new bot name or domain), not two reads per portal each time. A ghost of
// the room sends them: the ghost that made the room has the power; in a room a
// Matrix user made, the invited ghost of a trusted private chat has it too. A
// room where no ghost may set state is logged and left as it is: the state is a
// label, never needed to bridge.
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import {
  BRIDGE_STATE_TYPES,
  dmBridgeInfo,
  groupBridgeInfo,
  sameContent,
  type BridgeInfo,
} from "../model/bridge-info.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import { groupRoomName } from "../model/participant-set.js";
import type { BridgeStateRecordStore, GroupPortal, Portal } from "../core/ports/store.js";
import { isBridgeError } from "../core/error-kinds.js";

/** Rooms checked at once at start. */
export const DEFAULT_STATE_CONCURRENCY = 4;

export interface BridgeStateOptions {
  ghosts: GhostSide;
  portals: { list(): Promise<Portal[]> };
  groups: { list(): Promise<GroupPortal[]> };
  botUserId: string;
  /** The bridge's People domain (the network of group portals). */
  peopleDomain: string;
  log: Logger;
  concurrency?: number;
  /** What each room was given; without it every start asks the homeserver about every portal. */
  records?: BridgeStateRecordStore;
}

/** "recorded": the room's record says it has this state already; the homeserver was not asked. */
export type StateOutcome = "set" | "unchanged" | "skipped" | "recorded";

export interface SyncReport {
  set: number;
  unchanged: number;
  skipped: number;
  recorded: number;
  failed: number;
}

/** The record of a room's bridge state: its state key and content, as JSON. */
export function bridgeInfoLabel(info: BridgeInfo): string {
  return JSON.stringify([info.stateKey, info.content]);
}

export type Announced = { dm: Pick<Portal, "roomId" | "peopleAddress"> } | { group: GroupPortal };

export class BridgeState {
  /** Portals whose state announceSoon left for later, and how many are being set now. */
  private readonly soon: Announced[] = [];
  /** The rooms in `soon`, so a room is queued once. */
  private readonly queued = new Set<string>();
  private running = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: BridgeStateOptions) {}

  /**
   * announce, after the caller goes on (a portal an invite opened: four requests to the homeserver that
   * held up the appservice transaction, half of an invite's time). A few at a time, in order; lost if
   * the bridge stops first, and then set by the next start's syncAll (the state is only a label).
   */
  announceSoon(what: Announced): void {
    // A room already waiting is not queued twice: a burst of label changes in one room (a member
    // rewriting it in a loop) costs one check, and the queue stays as long as the rooms waiting.
    const roomId = roomOf(what);
    if (this.queued.has(roomId)) return;
    this.queued.add(roomId);
    this.soon.push(what);
    this.drain();
  }

  /** Resolves once every announceSoon so far is done (tests). */
  settled(): Promise<void> {
    if (this.running === 0 && this.soon.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private drain(): void {
    while (this.running < (this.o.concurrency ?? DEFAULT_STATE_CONCURRENCY) && this.soon.length > 0) {
      const next = this.soon.shift()!;
      this.queued.delete(roomOf(next));
      this.running++;
      void this.announce(next).finally(() => {
        this.running--;
        this.drain();
        if (this.running === 0 && this.soon.length === 0) {
          for (const resolve of this.idleWaiters.splice(0)) resolve();
        }
      });
    }
  }

  /** A DM portal's state (its ghost speaks); `known`: the recorded labels, to skip a room already given it. */
  dm(portal: Pick<Portal, "roomId" | "peopleAddress">, known?: Map<string, string>): Promise<StateOutcome> {
    const address = portal.peopleAddress as PeopleAddress;
    const info = dmBridgeInfo(this.o.botUserId, address);
    if (known?.get(portal.roomId) === bridgeInfoLabel(info)) return Promise.resolve("recorded");
    return this.ensure(portal.roomId, [this.o.ghosts.ghostId(address)], info);
  }

  /**
   * A group portal's state, named after the room's name (or its ghosts when it has none): one read of
   * the name even when recorded, since a rename changes the label.
   */
  async group(group: GroupPortal, known?: Map<string, string>): Promise<StateOutcome> {
    const ghostAddresses = group.members.filter((m) => !m.matrixUser).map((m) => m.address as PeopleAddress);
    const ghosts = ghostAddresses.map((a) => this.o.ghosts.ghostId(a));
    const reader = ghosts[0];
    if (!reader) return "skipped";
    const named = await this.o.ghosts.roomState(reader, group.roomId, "m.room.name", "");
    const given = named?.content.name;
    const name = typeof given === "string" && given ? given : groupRoomName(ghostAddresses);
    const info = groupBridgeInfo(this.o.botUserId, this.o.peopleDomain, group.roomId, name);
    if (known?.get(group.roomId) === bridgeInfoLabel(info)) return "recorded";
    return this.ensure(group.roomId, ghosts, info);
  }

  /** Best effort, for a portal just made: a failure is logged, never thrown. */
  async announce(what: Announced): Promise<void> {
    const roomId = roomOf(what);
    try {
      const outcome = "dm" in what ? await this.dm(what.dm) : await this.group(what.group);
      this.o.log.debug({ room: roomId, outcome }, "bridge state of a new portal");
    } catch (err) {
      this.o.log.warn({ err, room: roomId }, "could not set the bridge state of a new portal");
    }
  }

  /**
   * A bridge state event in a portal room from anyone but a ghost (a room admin changed or removed
   * the label): its record is dropped and the room checked again soon (put right where it differs;
   * should that fail, the next start tries, the record being gone).
   */
  async changedElsewhere(what: Announced): Promise<void> {
    await this.o.records?.forget(roomOf(what));
    this.announceSoon(what);
  }

  /** Every portal, a few at a time; one failing room does not stop the others. */
  async syncAll(): Promise<SyncReport> {
    const report: SyncReport = { set: 0, unchanged: 0, skipped: 0, recorded: 0, failed: 0 };
    const known = await this.o.records?.all();
    const jobs: (() => Promise<StateOutcome>)[] = [
      ...(await this.o.portals.list()).map((p) => () => this.dm(p, known)),
      ...(await this.o.groups.list()).map((g) => () => this.group(g, known)),
    ];
    await runBounded(jobs, this.o.concurrency ?? DEFAULT_STATE_CONCURRENCY, async (job) => {
      try {
        report[await job()]++;
      } catch (err) {
        report.failed++;
        this.o.log.warn({ err }, "could not check the bridge state of a portal");
      }
    });
    this.o.log.info({ ...report }, "bridge state events of the portals checked");
    return report;
  }

  /** Writes both types where they differ, as the first of `speakers` allowed to; records what the room has. */
  private async ensure(roomId: string, speakers: MatrixUserId[], info: BridgeInfo): Promise<StateOutcome> {
    const outcome = await this.write(roomId, speakers, info);
    if (outcome === "set" || outcome === "unchanged")
      await this.o.records?.put(roomId, bridgeInfoLabel(info));
    return outcome;
  }

  private async write(roomId: string, speakers: MatrixUserId[], info: BridgeInfo): Promise<StateOutcome> {
    const ghosts = this.o.ghosts;
    if (speakers.length === 0) return "skipped";
    const content = info.content as unknown as Record<string, unknown>;
    const missing: string[] = [];
    for (const type of BRIDGE_STATE_TYPES) {
      const current = await ghosts.roomState(speakers[0]!, roomId, type, info.stateKey);
      if (!sameContent(current?.content, content)) missing.push(type);
    }
    if (missing.length === 0) return "unchanged";
    for (const ghost of speakers) {
      try {
        for (const type of missing) await ghosts.setRoomState(ghost, roomId, type, info.stateKey, content);
        return "set";
      } catch (err) {
        // Not allowed (power level) or not in the room: the next ghost may be.
        if (!isBridgeError(err, "matrix_http") || (err.status !== 403 && err.status !== 404)) throw err;
      }
    }
    this.o.log.info({ room: roomId }, "no ghost of the room may set its bridge state; left as it is");
    return "skipped";
  }
}

function roomOf(what: Announced): string {
  return "dm" in what ? what.dm.roomId : what.group.roomId;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
async function runBounded<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
