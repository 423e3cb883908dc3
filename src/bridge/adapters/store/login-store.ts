// people_logins: the People addresses the bridge is logged in to, per Matrix user.
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { LoginRecord, LoginStore } from "../../core/ports/store.js";
import { ReadCache } from "./read-cache.js";

interface Row {
  people_address: string;
  matrix_user: string;
  created_at: number | string;
}

const toRecord = (row: Row): LoginRecord => ({
  matrixUser: row.matrix_user,
  address: row.people_address,
  createdAt: num(row.created_at),
});

export class KnexLoginStore implements LoginStore {
  /** of() answers (each message looks its user's logins up), cleared by each write. */
  private readonly cache = new ReadCache<LoginRecord[]>();

  constructor(private readonly db: Knex) {}

  async put(record: LoginRecord): Promise<boolean> {
    await this.cache.write(() =>
      this.db<Row>("people_logins")
        .insert({
          people_address: record.address,
          matrix_user: record.matrixUser,
          created_at: record.createdAt,
        })
        .onConflict("people_address")
        .ignore(),
    );
    return (await this.byAddress(record.address))?.matrixUser === record.matrixUser;
  }

  async remove(address: string): Promise<void> {
    await this.cache.write(() => this.db("people_logins").where("people_address", address).del());
  }

  async byAddress(address: string): Promise<LoginRecord | undefined> {
    const row = await this.db<Row>("people_logins").where("people_address", address).first();
    return row && toRecord(row);
  }

  async of(matrixUser: string): Promise<LoginRecord[]> {
    return this.cache.get(matrixUser, async () => {
      const rows = await this.db<Row>("people_logins")
        .where("matrix_user", matrixUser)
        .orderBy([{ column: "created_at" }, { column: "people_address" }]);
      return rows.map(toRecord);
    });
  }

  async list(): Promise<LoginRecord[]> {
    const rows = await this.db<Row>("people_logins").orderBy([
      { column: "created_at" },
      { column: "people_address" },
    ]);
    return rows.map(toRecord);
  }
}
