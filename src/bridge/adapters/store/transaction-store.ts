// processed_transactions: the appservice transactions already applied.
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { ProcessedTransaction, TransactionStore } from "../../core/ports/store.js";

interface Row {
  txn_id: string;
  events_hash: string;
  processed_at: number | string;
}

export class KnexTransactionStore implements TransactionStore {
  constructor(private readonly db: Knex) {}

  async get(txnId: string): Promise<ProcessedTransaction | undefined> {
    const row = await this.db<Row>("processed_transactions").where("txn_id", txnId).first();
    return row && { txnId: row.txn_id, eventsHash: row.events_hash, processedAt: num(row.processed_at) };
  }

  async put(txn: ProcessedTransaction): Promise<void> {
    await this.db<Row>("processed_transactions")
      .insert({ txn_id: txn.txnId, events_hash: txn.eventsHash, processed_at: txn.processedAt })
      .onConflict("txn_id")
      .merge();
  }

  async prune(before: number): Promise<number> {
    return this.db("processed_transactions").where("processed_at", "<", before).del();
  }
}
