// Ghost display names and avatars from People public profiles.
//
// ProfiledGhosts wraps the GhostSide the portals use: whenever a portal makes
// sure a ghost exists (a message, a new portal), the ghost's name comes from
// what the bridge last made of the address's profile (ghost_profiles), and
// the profile is fetched again when there is none yet or it is older than
// bridge.profile_refresh_interval. The first fetch of an address is waited
// for briefly so a new ghost appears with its name; every other fetch runs in
// the background. A fetch that fails is logged and counted and never fails
// the message: the ghost keeps its last name (or the address), and the fetch
// is tried again after RETRY_AFTER_FAILURE_MS.
//
// The avatar is downloaded (its hash checked against the signed profile),
// uploaded to the media repository as the ghost and set as its avatar_url,
// only when the profile's avatar hash differs from the one recorded: an
// unchanged avatar is never uploaded again, across restarts too.
import { KeyedLock } from "../../shared/keyed-lock.js";
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { BridgeMetrics } from "../core/ports/metrics.js";
import { ghostDisplayName } from "../model/ghost-name.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import type { GhostProfileRecord, GhostProfileStore } from "../core/ports/store.js";

/** A verified People profile, as the bridge needs it. */
export interface PeopleProfile {
  displayName?: string;
  /** `hash` is the blob id: the SHA-256 of the avatar's bytes, on `server`. */
  avatar?: { server: string; hash: string; mime: string; size: number };
}

/** Where profiles come from (accounts/profile-reader.ts: the bridge's People clients). */
export interface ProfileReader {
  /** The address's verified profile; null when it published none. Throws when it cannot be read now. */
  read(address: PeopleAddress): Promise<PeopleProfile | null>;
  /** The avatar's bytes, checked against its hash. */
  avatar(address: PeopleAddress, profile: PeopleProfile): Promise<Buffer>;
}

/** What a ghost's avatar needs beyond GhostSide (GhostIntents has it). */
export interface AvatarSide {
  setAvatar(ghost: MatrixUserId, mxc: string): Promise<void>;
}

/**
 * What a refresh read of an address's profile: its name as published and the
 * avatar the ghost now has (already uploaded: `mxc`), or null for none. Given
 * after every successful refresh, changed or not; a listener compares.
 */
export interface ProfileSeen {
  displayName?: string;
  avatar: { hash: string; mxc: string } | null;
}
export type ProfileListener = (address: PeopleAddress, seen: ProfileSeen) => Promise<void>;

export const RETRY_AFTER_FAILURE_MS = 5 * 60_000;
export const FIRST_FETCH_WAIT_MS = 3_000;

export interface GhostProfilesOptions {
  ghosts: GhostSide & AvatarSide;
  reader: ProfileReader;
  store: GhostProfileStore;
  log: Logger;
  metrics: BridgeMetrics;
  /** bridge.displayname_template */
  template: string;
  /** bridge.profile_refresh_interval (ms) */
  refreshIntervalMs: number;
  firstFetchWaitMs?: number;
  now?: () => number;
}

export class GhostProfiles {
  private readonly now: () => number;
  private readonly records = new Map<string, GhostProfileRecord>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly failedAt = new Map<string, number>();
  /** Per address: setting the name from a new profile and from a message never interleave. */
  private readonly lock = new KeyedLock();
  private readonly listeners: ProfileListener[] = [];
  private closed = false;

  constructor(private readonly o: GhostProfilesOptions) {
    this.now = o.now ?? Date.now;
  }

  /**
   * Registers the ghost with its display name from the profile, fetching the
   * profile first (waited for briefly) or in the background as due.
   */
  async ensure(ghost: MatrixUserId, address: PeopleAddress): Promise<void> {
    const record = await this.record(address);
    if (this.due(address, record)) {
      const refresh = this.refresh(ghost, address);
      if (!record) await Promise.race([refresh, sleep(this.o.firstFetchWaitMs ?? FIRST_FETCH_WAIT_MS)]);
    }
    // Under the address's lock, with the newest record: a refresh finishing meanwhile is not undone.
    await this.lock.run(address, () =>
      this.o.ghosts.ensureGhost(
        ghost,
        this.records.get(address)?.displayName ?? ghostDisplayName(this.o.template, address),
      ),
    );
  }

  /** Fetches the profile now (one fetch per address at a time); never rejects. */
  refresh(ghost: MatrixUserId, address: PeopleAddress): Promise<void> {
    const running = this.running.get(address);
    if (running) return running;
    const run = this.apply(ghost, address)
      .then(
        () => {
          this.failedAt.delete(address);
          this.o.metrics.ghostProfiles.inc({ outcome: "updated" });
        },
        (err: unknown) => {
          this.failedAt.set(address, this.now());
          this.o.metrics.ghostProfiles.inc({ outcome: "failed" });
          if (!this.closed)
            this.o.log.warn({ err, address }, "a ghost's People profile could not be refreshed");
        },
      )
      .finally(() => this.running.delete(address));
    this.running.set(address, run);
    return run;
  }

  /** Called after each refresh of a profile (feed rooms follow their author's name and picture). */
  onProfile(listener: ProfileListener): void {
    this.listeners.push(listener);
  }

  /** No new fetches; waits for the running ones. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.running.values()]);
  }

  private due(address: string, record: GhostProfileRecord | undefined): boolean {
    if (this.closed || this.running.has(address)) return false;
    const failed = this.failedAt.get(address);
    if (failed !== undefined && this.now() - failed < RETRY_AFTER_FAILURE_MS) return false;
    return !record || this.now() - record.fetchedAt >= this.o.refreshIntervalMs;
  }

  private async record(address: string): Promise<GhostProfileRecord | undefined> {
    const cached = this.records.get(address);
    if (cached) return cached;
    const stored = await this.o.store.get(address);
    if (stored) this.records.set(address, stored);
    return stored;
  }

  private async apply(ghost: MatrixUserId, address: PeopleAddress): Promise<void> {
    const fetchedAt = this.now();
    const profile = await this.o.reader.read(address);
    const before = await this.record(address);
    // The avatar moves outside the lock: a slow one never holds up a message's ensure().
    let avatar: { hash: string; mxc: string } | null | undefined;
    const wanted = profile?.avatar;
    if ((wanted?.hash ?? null) !== (before?.avatarHash ?? null)) {
      if (wanted) {
        const bytes = await this.o.reader.avatar(address, profile!);
        avatar = { hash: wanted.hash, mxc: await this.o.ghosts.uploadMedia(ghost, bytes, wanted.mime) };
      } else avatar = null;
    }
    const displayName = ghostDisplayName(this.o.template, address, profile?.displayName);
    await this.lock.run(address, async () => {
      await this.o.ghosts.ensureGhost(ghost, displayName);
      if (avatar !== undefined) {
        await this.o.ghosts.setAvatar(ghost, avatar?.mxc ?? "");
        this.o.log.debug({ ghost, avatar: avatar !== null }, "ghost avatar set");
      }
      const record: GhostProfileRecord = {
        address,
        displayName,
        avatarHash: avatar === undefined ? (before?.avatarHash ?? null) : (avatar?.hash ?? null),
        avatarMxc: avatar === undefined ? (before?.avatarMxc ?? null) : (avatar?.mxc ?? null),
        fetchedAt,
      };
      await this.o.store.put(record);
      this.records.set(address, record);
    });
    const avatarNow = await this.record(address);
    const seen: ProfileSeen = {
      ...(profile?.displayName !== undefined && { displayName: profile.displayName }),
      avatar:
        avatarNow?.avatarHash && avatarNow.avatarMxc
          ? { hash: avatarNow.avatarHash, mxc: avatarNow.avatarMxc }
          : null,
    };
    // A listener's failure is its own (logged); the ghost's refresh stands.
    for (const listener of this.listeners)
      await listener(address, seen).catch((err: unknown) =>
        this.o.log.warn({ err, address }, "a profile listener failed"),
      );
  }
}

/**
 * The portals' GhostSide, with names from People profiles. A Proxy rather than
 * a delegating class: every other method (and any added to GhostSide later)
 * passes through unchanged.
 */
export function profiledGhosts<G extends GhostSide>(inner: G, profiles: GhostProfiles): G {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== "ensureGhost") {
        const value: unknown = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      }
      return async (ghost: MatrixUserId, fallback: string): Promise<void> => {
        const address = target.addressOf(ghost);
        if (!address) return target.ensureGhost(ghost, fallback);
        await profiles.ensure(ghost, address);
      };
    },
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
