// people_accounts: the People account the bridge holds for each Matrix user.
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { PeopleAccountRecord, PeopleAccountStore } from "../../core/ports/store.js";
import { ReadCache } from "./read-cache.js";

interface Row {
  matrix_user: string;
  people_address: string;
  created_at: number | string;
  maintained_at?: number | string | null;
  open_at_start?: boolean | number;
}

const toRecord = (row: Row): PeopleAccountRecord => ({
  matrixUser: row.matrix_user,
  address: row.people_address,
  createdAt: num(row.created_at),
});

export class KnexPeopleAccountStore implements PeopleAccountStore {
  /** get answers (each message looks its user's account up), cleared by put; the other writes leave the record's columns alone. */
  private readonly cache = new ReadCache<PeopleAccountRecord | undefined>();

  constructor(private readonly db: Knex) {}

  async put(record: PeopleAccountRecord): Promise<void> {
    // The address is unique too: a second user claiming it fails loudly instead of sharing keys.
    await this.cache.write(() =>
      this.db<Row>("people_accounts")
        .insert({
          matrix_user: record.matrixUser,
          people_address: record.address,
          created_at: record.createdAt,
        })
        .onConflict("matrix_user")
        .ignore(),
    );
  }

  async get(matrixUser: string): Promise<PeopleAccountRecord | undefined> {
    return this.cache.get(matrixUser, async () => {
      const row = await this.db<Row>("people_accounts").where("matrix_user", matrixUser).first();
      return row && toRecord(row);
    });
  }

  async list(): Promise<PeopleAccountRecord[]> {
    const rows = await this.db<Row>("people_accounts")
      .select("*")
      .orderBy([{ column: "created_at" }, { column: "matrix_user" }]);
    return rows.map(toRecord);
  }

  async dueForMaintenance(before: number, limit: number): Promise<string[]> {
    const rows = await this.db<Row>("people_accounts")
      .whereNull("maintained_at")
      .orWhere("maintained_at", "<", before)
      // Never looked after first (nulls sort first ascending on SQLite and last on PostgreSQL).
      .orderByRaw("maintained_at IS NOT NULL, maintained_at")
      .limit(limit)
      .select("matrix_user");
    return rows.map((r) => r.matrix_user);
  }

  async maintained(matrixUser: string, at: number): Promise<void> {
    await this.db<Row>("people_accounts")
      .where("matrix_user", matrixUser)
      .update({ maintained_at: at, open_at_start: true });
  }

  async setOpenAtStart(matrixUsers: readonly string[], open: boolean): Promise<void> {
    // In chunks: SQLite takes at most 999 bound values per statement.
    for (let i = 0; i < matrixUsers.length; i += 500) {
      await this.db<Row>("people_accounts")
        .whereIn("matrix_user", matrixUsers.slice(i, i + 500))
        .update({ open_at_start: open });
    }
  }

  async openAtStart(): Promise<string[]> {
    const rows = await this.db<Row>("people_accounts").where("open_at_start", true).select("matrix_user");
    return rows.map((r) => r.matrix_user);
  }
}
