// Writes a homeserver transaction's handlers leave pending. A handler may
// return before the durable write it depends on is done (the People outbox's
// fsync, then the mapping written after it), so the next event of the
// transaction is handled meanwhile and one fsync covers several messages. The
// transaction is recorded and acknowledged only after every such write
// settled; one that failed fails the transaction, so the homeserver sends it
// again. Outside a transaction (the retry queue, catch-up) there is nothing to
// wait for the write at the end: defer() says so and the handler waits itself.
import { AsyncLocalStorage } from "node:async_hooks";

interface Scope {
  pending: Promise<void>[];
  /** False once the transaction's handling is over: work started from it later (a timer) is on its own. */
  open: boolean;
}

export class TransactionWrites {
  private readonly scope = new AsyncLocalStorage<Scope>();

  /** Runs `handle` collecting what its handlers defer, then waits for all of it (rejects if one failed). */
  async run(handle: () => Promise<void>): Promise<void> {
    const scope: Scope = { pending: [], open: true };
    try {
      await this.scope.run(scope, handle);
    } finally {
      scope.open = false;
      // Even when handling failed: nothing may still be writing once the transaction is answered.
      await Promise.allSettled(scope.pending);
    }
    await Promise.all(scope.pending);
  }

  /** Runs `fn` as no transaction's (the retry queue, catch-up), even when called from one. */
  outside<T>(fn: () => Promise<T>): Promise<T> {
    return this.scope.exit(fn);
  }

  /** Leaves `write` to the running transaction; false outside one (the caller then awaits it). */
  defer(write: Promise<void>): boolean {
    const scope = this.scope.getStore();
    if (!scope?.open) return false;
    // Observed by run(); never an unhandled rejection meanwhile.
    write.catch(() => undefined);
    scope.pending.push(write);
    return true;
  }
}
