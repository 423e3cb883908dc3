// Processed appservice transactions are remembered so a retried one is not handled twice;
// homeservers retry for hours, not weeks, so a month's worth is kept, pruned every hour.
import type { Logger } from "./core/ports/logger.js";
import type { TransactionStore } from "./core/ports/store.js";

const PRUNE_EVERY_MS = 60 * 60_000;
const KEEP_TRANSACTIONS_MS = 30 * 86_400_000;

/** Starts the hourly pruning; the returned function stops it. */
export function pruneTransactions(transactions: TransactionStore, log: Logger): () => Promise<void> {
  const timer = setInterval(() => {
    transactions
      .prune(Date.now() - KEEP_TRANSACTIONS_MS)
      .catch((err: unknown) => log.warn({ err }, "pruning processed transactions failed"));
  }, PRUNE_EVERY_MS);
  timer.unref();
  return async () => clearInterval(timer);
}
