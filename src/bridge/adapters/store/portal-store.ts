// portals: the room of each (Matrix user, own People address, People address) conversation.
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { Portal, PortalStore } from "../../core/ports/store.js";
import { ReadCache } from "./read-cache.js";

interface Row {
  room_id: string;
  matrix_user: string;
  owner_address: string;
  people_address: string;
  created_at: number | string;
}

const toPortal = (row: Row): Portal => ({
  roomId: row.room_id,
  matrixUser: row.matrix_user,
  ...(row.owner_address ? { ownerAddress: row.owner_address } : {}),
  peopleAddress: row.people_address,
  createdAt: num(row.created_at),
});

export class KnexPortalStore implements PortalStore {
  /** byRoom and byPair answers (every message looks its portal up), cleared by each write. */
  private readonly cache = new ReadCache<Portal | undefined>();

  constructor(private readonly db: Knex) {}

  async put(portal: Portal): Promise<{ replaced?: string }> {
    return this.cache.write(() => this.putNow(portal));
  }

  private async putNow(portal: Portal): Promise<{ replaced?: string }> {
    return this.db.transaction(async (trx) => {
      const older = await trx<Row>("portals")
        .where({
          matrix_user: portal.matrixUser,
          owner_address: portal.ownerAddress ?? "",
          people_address: portal.peopleAddress,
        })
        .whereNot("room_id", portal.roomId)
        .first();
      if (older) await trx("portals").where("room_id", older.room_id).del();
      await trx<Row>("portals")
        .insert({
          room_id: portal.roomId,
          matrix_user: portal.matrixUser,
          owner_address: portal.ownerAddress ?? "",
          people_address: portal.peopleAddress,
          created_at: portal.createdAt,
        })
        .onConflict("room_id")
        .merge(["matrix_user", "owner_address", "people_address"]);
      return older ? { replaced: older.room_id } : {};
    });
  }

  async byRoom(roomId: string): Promise<Portal | undefined> {
    return this.cache.get(`room\0${roomId}`, async () => {
      const row = await this.db<Row>("portals").where("room_id", roomId).first();
      return row && toPortal(row);
    });
  }

  async byPair(
    matrixUser: string,
    peopleAddress: string,
    ownerAddress?: string,
  ): Promise<Portal | undefined> {
    const key = `pair\0${matrixUser}\0${peopleAddress}\0${ownerAddress ?? "\u0001any"}`;
    return this.cache.get(key, () => this.byPairNow(matrixUser, peopleAddress, ownerAddress));
  }

  private async byPairNow(
    matrixUser: string,
    peopleAddress: string,
    ownerAddress?: string,
  ): Promise<Portal | undefined> {
    const query = this.db<Row>("portals").where({ matrix_user: matrixUser, people_address: peopleAddress });
    if (ownerAddress !== undefined) query.where("owner_address", ownerAddress);
    const row = await query.orderBy([{ column: "created_at" }, { column: "room_id" }]).first();
    return row && toPortal(row);
  }

  async usersWith(peopleAddress: string): Promise<string[]> {
    const rows = await this.db<Row>("portals")
      .where("people_address", peopleAddress)
      .orderBy([{ column: "created_at" }, { column: "room_id" }])
      .select("matrix_user");
    return [...new Set(rows.map((r) => r.matrix_user))];
  }

  async remove(roomId: string): Promise<void> {
    await this.cache.write(() => this.db("portals").where("room_id", roomId).del());
  }

  async count(): Promise<number> {
    const row = (await this.db("portals").count({ n: "*" }).first()) as { n: number | string };
    return num(row.n);
  }

  async list(): Promise<Portal[]> {
    const rows = await this.db<Row>("portals").orderBy([{ column: "created_at" }, { column: "room_id" }]);
    return rows.map(toPortal);
  }
}
