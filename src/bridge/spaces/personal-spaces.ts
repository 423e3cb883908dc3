// A personal space per Matrix user (bridge.personal_space), as mautrix bridges
// make: a space "People" holding the user's management room, DM and group
// portals, feed rooms and post rooms. The space is made lazily, when the first
// of those rooms is seen; a room is added when a member event shows it (the
// bridge inviting the user, the user joining) and, at start, every recorded
// room of every user is added (idempotent: the rooms already added are kept in
// the store, and m.space.child is state keyed by the room). m.space.parent is
// set where the bot may (the rooms it made); clients list a space's rooms from
// m.space.child alone.
import { KeyedLock } from "../../shared/keyed-lock.js";
import type { Logger } from "../core/ports/logger.js";
import type { RoomEvent } from "../core/ports/matrix-side.js";
import type { BridgeStore } from "../core/ports/store.js";

/** The Matrix side of the spaces: requests as the bot. */
export interface SpaceMatrix {
  /** A new space made by the bot, named (and pictured), with `invite` invited. */
  createSpace(o: { name: string; avatar?: string; invite: string }): Promise<string>;
  /** m.space.child of `roomId` in the space. */
  setChild(spaceId: string, roomId: string): Promise<void>;
  /** m.space.parent in the room; false when the bot may not set it there. */
  setParent(roomId: string, spaceId: string): Promise<boolean>;
}

export interface PersonalSpacesOptions {
  matrix: SpaceMatrix;
  store: Pick<
    BridgeStore,
    "spaces" | "managementRooms" | "portals" | "groups" | "feeds" | "postRooms" | "peopleAccounts"
  >;
  name: string;
  avatar?: string;
  log: Logger;
  now?: () => number;
}

export class PersonalSpaces {
  private readonly lock = new KeyedLock();
  /** Rooms known to be in their users' spaces (this process). */
  private readonly added = new Set<string>();

  constructor(private readonly o: PersonalSpacesOptions) {}

  /**
   * After each Matrix event (best effort, logged): a room not yet in its users' spaces is added
   * (the bridge's invite, the user's join, a ghost's first message: whichever comes after the
   * room is recorded); a command in a management room adds every room of its user (`dm`,
   * `follow`, `group create` record their room while their invite may already have passed).
   */
  readonly onEvent = async (event: RoomEvent): Promise<void> => {
    try {
      const owners = await this.o.store.managementRooms.ownersOf(event.roomId);
      if (event.type === "m.room.message" && owners.includes(event.sender)) {
        for (const roomId of (await this.allRooms(event.sender)).get(event.sender) ?? [])
          await this.add(event.sender, roomId);
        return;
      }
      if (this.added.has(event.roomId)) return;
      for (const user of await this.ownersOf(event.roomId, owners)) await this.add(user, event.roomId);
    } catch (err) {
      this.o.log.warn({ err, room: event.roomId }, "a room could not be added to its personal space");
    }
  };

  /** Every recorded room of every user into their space (at start). */
  async syncAll(): Promise<void> {
    for (const [user, rooms] of await this.allRooms()) {
      for (const roomId of rooms) {
        await this.add(user, roomId).catch((err: unknown) =>
          this.o.log.warn({ err, room: roomId }, "a room could not be added to its personal space"),
        );
      }
    }
  }

  /** The user's space, made now when they have none. */
  async spaceOf(user: string): Promise<string> {
    return this.lock.run(user, () => this.ensure(user));
  }

  private async ensure(user: string): Promise<string> {
    const known = await this.o.store.spaces.spaceOf(user);
    if (known) return known;
    const spaceId = await this.o.matrix.createSpace({
      name: this.o.name,
      ...(this.o.avatar ? { avatar: this.o.avatar } : {}),
      invite: user,
    });
    await this.o.store.spaces.putSpace(user, spaceId, (this.o.now ?? Date.now)());
    this.o.log.info({ user, space: spaceId }, "personal space created");
    return (await this.o.store.spaces.spaceOf(user)) ?? spaceId;
  }

  private async add(user: string, roomId: string): Promise<void> {
    await this.lock.run(user, async () => {
      const spaceId = await this.ensure(user);
      if (spaceId === roomId || (await this.o.store.spaces.hasChild(spaceId, roomId))) {
        this.added.add(roomId);
        return;
      }
      await this.o.matrix.setChild(spaceId, roomId);
      await this.o.matrix.setParent(roomId, spaceId);
      await this.o.store.spaces.putChild(spaceId, roomId);
    });
    this.added.add(roomId);
  }

  /** The Matrix users whose room this is (a group portal may have several). */
  private async ownersOf(roomId: string, managing: readonly string[]): Promise<string[]> {
    const s = this.o.store;
    const owners = new Set(managing);
    const one =
      (await s.portals.byRoom(roomId)) ??
      (await s.feeds.byRoom(roomId)) ??
      (await s.postRooms.byRoom(roomId));
    if (one) owners.add(one.matrixUser);
    for (const m of (await s.groups.byRoom(roomId))?.members ?? [])
      if (m.matrixUser) owners.add(m.matrixUser);
    return [...owners];
  }

  /** Every recorded room, by user (of one user only, when given). */
  private async allRooms(only?: string): Promise<Map<string, string[]>> {
    const s = this.o.store;
    const all = new Map<string, string[]>();
    const put = (user: string, roomId: string) => {
      if (only === undefined || user === only) all.set(user, [...(all.get(user) ?? []), roomId]);
    };
    for (const r of [...(await s.portals.list()), ...(await s.feeds.rooms()), ...(await s.postRooms.rooms())])
      put(r.matrixUser, r.roomId);
    for (const g of await s.groups.list())
      for (const m of g.members) if (m.matrixUser) put(m.matrixUser, g.roomId);
    const accounts = only !== undefined ? [only] : (await s.peopleAccounts.list()).map((a) => a.matrixUser);
    const users = new Set([...all.keys(), ...accounts]);
    for (const user of users) for (const r of await s.managementRooms.roomsOf(user)) put(user, r.roomId);
    return all;
  }
}

/** The spaces as configured: a no-op when bridge.personal_space.enabled is false. */
export function personalSpaces(
  config: { enabled: boolean; name: string; avatar: string },
  o: Omit<PersonalSpacesOptions, "name" | "avatar">,
): Pick<PersonalSpaces, "onEvent" | "syncAll"> {
  if (!config.enabled) return { onEvent: async () => undefined, syncAll: async () => undefined };
  return new PersonalSpaces({ ...o, name: config.name, ...(config.avatar ? { avatar: config.avatar } : {}) });
}
