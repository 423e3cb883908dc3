// group_portals and group_members: the room of each People conversation with
// several participants, and its current participant set. The set's key is
// unique (group_portals_set_unique), so a conversation has one room.
import type { Knex } from "knex";
import { parseAddress } from "../../../people/protocol/address.js";
import { participantSet, setKey } from "../../model/participant-set.js";
import { chunks, num } from "../../../store/knex/sql-values.js";
import type { GroupMember, GroupPortal, GroupPortalStore } from "../../core/ports/store.js";
import { ReadCache } from "./read-cache.js";

interface PortalRow {
  room_id: string;
  set_key: string;
  created_at: number | string;
}

interface MemberRow {
  room_id: string;
  address: string;
  matrix_user: string | null;
}

/** The key of a member list (its addresses are canonical: they passed parseAddress on the way in). */
export function membersKey(members: readonly GroupMember[]): string {
  return setKey(participantSet(members.map((m) => parseAddress(m.address))));
}

export class KnexGroupPortalStore implements GroupPortalStore {
  /** byRoom answers (each Matrix event asks whether its room is a group's), cleared by each write. */
  private readonly cache = new ReadCache<GroupPortal | undefined>();

  constructor(private readonly db: Knex) {}

  async put(portal: GroupPortal): Promise<{ replaced?: string }> {
    return this.cache.write(() => this.putNow(portal));
  }

  private async putNow(portal: GroupPortal): Promise<{ replaced?: string }> {
    const key = membersKey(portal.members);
    return this.db.transaction(async (trx) => {
      const older = await trx<PortalRow>("group_portals")
        .where("set_key", key)
        .whereNot("room_id", portal.roomId)
        .first();
      if (older) await removeIn(trx, older.room_id);
      await trx<PortalRow>("group_portals")
        .insert({ room_id: portal.roomId, set_key: key, created_at: portal.createdAt })
        .onConflict("room_id")
        .merge(["set_key"]);
      await trx("group_members").where("room_id", portal.roomId).del();
      for (const part of chunks([...portal.members])) {
        await trx<MemberRow>("group_members").insert(
          part.map((m) => ({
            room_id: portal.roomId,
            address: m.address,
            matrix_user: m.matrixUser ?? null,
          })),
        );
      }
      return older ? { replaced: older.room_id } : {};
    });
  }

  async byRoom(roomId: string): Promise<GroupPortal | undefined> {
    return this.cache.get(roomId, async () => {
      const row = await this.db<PortalRow>("group_portals").where("room_id", roomId).first();
      return row && this.withMembers(row);
    });
  }

  async bySetKey(key: string): Promise<GroupPortal | undefined> {
    const row = await this.db<PortalRow>("group_portals").where("set_key", key).first();
    return row && this.withMembers(row);
  }

  async matrixUsersWith(address: string): Promise<string[]> {
    const rows = (await this.db("group_members as g")
      .join("group_members as m", "m.room_id", "g.room_id")
      .where("g.address", address)
      .whereNotNull("m.matrix_user")
      .distinct("m.matrix_user")) as { matrix_user: string }[];
    return rows.map((r) => r.matrix_user).sort();
  }

  async roomsOfMessages(peopleMessageIds: readonly string[]): Promise<string[]> {
    const rooms = new Set<string>();
    for (const part of chunks([...new Set(peopleMessageIds)])) {
      const rows = (await this.db("message_map as m")
        .join("group_portals as g", "g.room_id", "m.room_id")
        .whereIn("m.people_message_id", part)
        .distinct("m.room_id")) as { room_id: string }[];
      for (const r of rows) rooms.add(r.room_id);
    }
    return [...rooms].sort();
  }

  async remove(roomId: string): Promise<void> {
    await this.cache.write(() => this.db.transaction((trx) => removeIn(trx, roomId)));
  }

  async count(): Promise<number> {
    const row = (await this.db("group_portals").count({ n: "*" }).first()) as { n: number | string };
    return num(row.n);
  }

  async list(): Promise<GroupPortal[]> {
    const rows = await this.db<PortalRow>("group_portals").orderBy([
      { column: "created_at" },
      { column: "room_id" },
    ]);
    const out: GroupPortal[] = [];
    for (const row of rows) out.push(await this.withMembers(row));
    return out;
  }

  private async withMembers(row: PortalRow): Promise<GroupPortal> {
    const members = await this.db<MemberRow>("group_members").where("room_id", row.room_id);
    // Sorted here, not by the database: its collation need not be code-unit order.
    members.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    return {
      roomId: row.room_id,
      members: members.map((m) => ({
        address: m.address,
        ...(m.matrix_user !== null ? { matrixUser: m.matrix_user } : {}),
      })),
      createdAt: num(row.created_at),
    };
  }
}

async function removeIn(trx: Knex.Transaction, roomId: string): Promise<void> {
  await trx("group_members").where("room_id", roomId).del();
  await trx("group_portals").where("room_id", roomId).del();
}
