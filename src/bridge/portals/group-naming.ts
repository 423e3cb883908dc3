// A group room's name and topic follow its membership where the bridge named
// it. The bridge's name of a set is a pure function of its ghosts' addresses
// (groupRoomName) and its topic of all participants (groupRoomTopic), so a
// room "was named by the bridge" exactly when its current name is empty or the
// one the bridge would have given the previous set: a name the user chose (at
// creation or later) is kept. Best effort: changing a room's state needs power
// in it (the room's creator ghost has it in rooms the bridge made; ghosts in a
// room a Matrix user made usually do not), so a refusal is logged, not thrown.
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import { groupRoomName } from "../model/participant-set.js";
import type { GroupMember } from "../core/ports/store.js";

const MAX_TOPIC_ADDRESSES = 20;

/** "People conversation: alice@…, ann@…, joe@…" (the first 20, then "and N more"). */
export function groupRoomTopic(members: readonly GroupMember[]): string {
  const all = members.map((m) => m.address).sort();
  const shown = all.slice(0, MAX_TOPIC_ADDRESSES).join(", ");
  const more = all.length > MAX_TOPIC_ADDRESSES ? ` and ${all.length - MAX_TOPIC_ADDRESSES} more` : "";
  return `People conversation: ${shown}${more}`;
}

const ghostAddresses = (members: readonly GroupMember[]) =>
  members.filter((m) => !m.matrixUser).map((m) => m.address as PeopleAddress);

export function bridgeRoomName(members: readonly GroupMember[]): string {
  return groupRoomName(ghostAddresses(members));
}

export class GroupNaming {
  constructor(private readonly o: { ghosts: GhostSide; log: Logger }) {}

  /**
   * After the room's participants changed from `before` (undefined: the room just became a
   * group) to `after`: its name and topic follow, unless someone else chose them. Never throws.
   */
  async follow(roomId: string, before: readonly GroupMember[] | undefined, after: readonly GroupMember[]) {
    const ghosts = ghostAddresses(after).map((a) => this.o.ghosts.ghostId(a));
    const reader = ghosts[0];
    if (!reader) return;
    try {
      const [create, name, topic] = await Promise.all(
        ["m.room.create", "m.room.name", "m.room.topic"].map((t) =>
          this.o.ghosts.roomState(reader, roomId, t, ""),
        ),
      );
      // The room's creator first (it has the power in rooms the bridge made), then a ghost of the set.
      const creator = create?.sender && this.o.ghosts.addressOf(create.sender) ? create.sender : undefined;
      const namers = [...new Set([creator, reader].filter((g): g is MatrixUserId => g !== undefined))];
      const changes: [string, string, string, string | undefined, unknown][] = [
        ["m.room.name", "name", bridgeRoomName(after), before && bridgeRoomName(before), name?.content.name],
        [
          "m.room.topic",
          "topic",
          groupRoomTopic(after),
          before && groupRoomTopic(before),
          topic?.content.topic,
        ],
      ];
      for (const [type, key, wanted, previous, current] of changes) {
        const now = typeof current === "string" ? current : "";
        if (now === wanted || (now !== "" && now !== previous)) continue;
        await this.set(namers, roomId, type, { [key]: wanted });
      }
    } catch (err) {
      this.o.log.warn({ err, room: roomId }, "a group room's name could not follow its members");
    }
  }

  private async set(namers: MatrixUserId[], roomId: string, type: string, content: Record<string, unknown>) {
    for (const ghost of namers) {
      try {
        await this.o.ghosts.setRoomState(ghost, roomId, type, "", content);
        return;
      } catch (err) {
        this.o.log.debug({ err, room: roomId, type }, "a ghost could not change the room's state");
      }
    }
    this.o.log.info({ room: roomId, type }, "no ghost may change this room's name or topic: left as it is");
  }
}
