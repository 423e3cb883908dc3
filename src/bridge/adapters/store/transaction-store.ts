// processed_transactions: the appservice transactions already applied.
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { ProcessedTransaction, TransactionStore } from "../../core/ports/store.js";
import { FAST_PATH_CLOSED, type SqliteFastPath } from "./sqlite-fast-path.js";

interface Row {
  txn_id: string;
  events_hash: string;
  processed_at: number | string;
}

export class KnexTransactionStore implements TransactionStore {
  constructor(
    private readonly db: Knex,
    private readonly fast?: SqliteFastPath,
  ) {}

  async get(txnId: string): Promise<ProcessedTransaction | undefined> {
    let row = this.fast?.get<Row>("SELECT * FROM processed_transactions WHERE txn_id = ? LIMIT 1", [txnId]);
    if (row === FAST_PATH_CLOSED || !this.fast)
      row = await this.db<Row>("processed_transactions").where("txn_id", txnId).first();
    return row && { txnId: row.txn_id, eventsHash: row.events_hash, processedAt: num(row.processed_at) };
  }

  async put(txn: ProcessedTransaction): Promise<void> {
    const sql =
      "INSERT INTO processed_transactions (txn_id, events_hash, processed_at) VALUES (?, ?, ?) " +
      "ON CONFLICT (txn_id) DO UPDATE SET events_hash = excluded.events_hash, processed_at = excluded.processed_at";
    if (this.fast?.run(sql, [txn.txnId, txn.eventsHash, txn.processedAt])) return;
    await this.db<Row>("processed_transactions")
      .insert({ txn_id: txn.txnId, events_hash: txn.eventsHash, processed_at: txn.processedAt })
      .onConflict("txn_id")
      .merge();
  }

  async prune(before: number): Promise<number> {
    return this.db("processed_transactions").where("processed_at", "<", before).del();
  }
}
