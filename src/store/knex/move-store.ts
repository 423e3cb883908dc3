// Moved accounts (migration 005-moves). A newer notice of the same account
// replaces the stored one inside one transaction; an older or equal one is
// refused, so a replayed notice can never point the old address elsewhere.
import type { Knex } from "knex";
import type { MoveRecord, MoveStore } from "../types.js";
import { num } from "./sql-values.js";

type Int = number | string;

interface MoveRow {
  address: string;
  to_address: string;
  notice_json: string;
  moved_at: Int;
  forward_until: Int;
}

function toMove(r: MoveRow): MoveRecord {
  return {
    address: r.address,
    toAddress: r.to_address,
    noticeJson: r.notice_json,
    movedAt: num(r.moved_at),
    forwardUntil: num(r.forward_until),
  };
}

export class KnexMoveStore implements MoveStore {
  constructor(private readonly db: Knex) {}

  async get(address: string): Promise<MoveRecord | undefined> {
    const row = await this.db<MoveRow>("account_moves").where("address", address).first();
    return row ? toMove(row) : undefined;
  }

  put(record: MoveRecord): Promise<"stored" | "stale"> {
    return this.db.transaction(async (trx) => {
      const row = {
        address: record.address,
        to_address: record.toAddress,
        notice_json: record.noticeJson,
        moved_at: record.movedAt,
        forward_until: record.forwardUntil,
      };
      const existing = await trx<MoveRow>("account_moves").where("address", record.address).first();
      if (!existing) {
        await trx<MoveRow>("account_moves").insert(row);
        return "stored";
      }
      if (num(existing.moved_at) >= record.movedAt) return "stale";
      await trx<MoveRow>("account_moves").where("address", record.address).update(row);
      return "stored";
    });
  }
}
