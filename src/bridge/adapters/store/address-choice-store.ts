// address_choices: the own People address a Matrix user chose with `use` for new chats.
import type { Knex } from "knex";
import type { AddressChoiceStore } from "../../core/ports/store.js";

interface Row {
  matrix_user: string;
  people_address: string;
  updated_at: number | string;
}

export class KnexAddressChoiceStore implements AddressChoiceStore {
  constructor(private readonly db: Knex) {}

  async set(matrixUser: string, address: string, at: number): Promise<void> {
    await this.db<Row>("address_choices")
      .insert({ matrix_user: matrixUser, people_address: address, updated_at: at })
      .onConflict("matrix_user")
      .merge(["people_address", "updated_at"]);
  }

  async of(matrixUser: string): Promise<string | undefined> {
    const row = await this.db<Row>("address_choices").where("matrix_user", matrixUser).first();
    return row?.people_address;
  }

  async clear(matrixUser: string): Promise<void> {
    await this.db("address_choices").where("matrix_user", matrixUser).del();
  }
}
