// people_accounts: the People account the bridge holds for each Matrix user.
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { PeopleAccountRecord, PeopleAccountStore } from "../../core/ports/store.js";

interface Row {
  matrix_user: string;
  people_address: string;
  created_at: number | string;
}

const toRecord = (row: Row): PeopleAccountRecord => ({
  matrixUser: row.matrix_user,
  address: row.people_address,
  createdAt: num(row.created_at),
});

export class KnexPeopleAccountStore implements PeopleAccountStore {
  constructor(private readonly db: Knex) {}

  async put(record: PeopleAccountRecord): Promise<void> {
    // The address is unique too: a second user claiming it fails loudly instead of sharing keys.
    await this.db<Row>("people_accounts")
      .insert({
        matrix_user: record.matrixUser,
        people_address: record.address,
        created_at: record.createdAt,
      })
      .onConflict("matrix_user")
      .ignore();
  }

  async get(matrixUser: string): Promise<PeopleAccountRecord | undefined> {
    const row = await this.db<Row>("people_accounts").where("matrix_user", matrixUser).first();
    return row && toRecord(row);
  }

  async list(): Promise<PeopleAccountRecord[]> {
    const rows = await this.db<Row>("people_accounts")
      .select("*")
      .orderBy([{ column: "created_at" }, { column: "matrix_user" }]);
    return rows.map(toRecord);
  }
}
