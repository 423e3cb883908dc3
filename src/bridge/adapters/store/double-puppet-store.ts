// double_puppets: per Matrix user, the sealed access token of the bridge's
// double-puppet device for them (sealing is the caller's: this table holds bytes).
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { DoublePuppetRecord, DoublePuppetStore } from "../../core/ports/feature-store.js";

interface Row {
  matrix_user: string;
  device_id: string;
  sealed_token: Buffer | Uint8Array;
  created_at: number | string;
}

export class KnexDoublePuppetStore implements DoublePuppetStore {
  constructor(private readonly db: Knex) {}

  async put(record: DoublePuppetRecord): Promise<void> {
    await this.db<Row>("double_puppets")
      .insert({
        matrix_user: record.matrixUser,
        device_id: record.deviceId,
        sealed_token: record.sealedToken,
        created_at: record.createdAt,
      })
      .onConflict("matrix_user")
      .merge();
  }

  async of(matrixUser: string): Promise<DoublePuppetRecord | undefined> {
    const row = await this.db<Row>("double_puppets").where("matrix_user", matrixUser).first();
    return (
      row && {
        matrixUser: row.matrix_user,
        deviceId: row.device_id,
        sealedToken: Buffer.from(row.sealed_token),
        createdAt: num(row.created_at),
      }
    );
  }

  async remove(matrixUser: string): Promise<void> {
    await this.db("double_puppets").where("matrix_user", matrixUser).del();
  }
}
