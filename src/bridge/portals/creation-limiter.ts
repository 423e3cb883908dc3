// Keeps count of what each People sender's messages made the bridge create
// (model/creation-limits.ts), in the bridge store so the limits hold across
// restarts: a budget is taken whole or not at all, one take per sender at a
// time, before the rooms and ghosts are made (a crash after the take only
// counts them early). Records older than the window are pruned now and then.
import { KeyedLock } from "../../shared/keyed-lock.js";
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { Logger } from "../core/ports/logger.js";
import { CREATION_WINDOW_MS, overLimit, type Counts, type CreationLimits } from "../model/creation-limits.js";
import type { SenderCreationStore } from "../core/ports/store.js";

const PRUNE_EVERY_MS = 10 * 60 * 1000;

export class CreationLimiter {
  private readonly lock = new KeyedLock();
  private readonly now: () => number;
  private prunedAt = 0;

  constructor(
    private readonly o: {
      store: SenderCreationStore;
      limits: CreationLimits;
      log: Logger;
      now?: () => number;
    },
  ) {
    this.now = o.now ?? Date.now;
  }

  /**
   * Takes `want` from the sender's budget of the last hour: undefined when it
   * was taken, else the limit it would pass (and nothing is taken).
   */
  take(sender: PeopleAddress, want: Partial<Counts>): Promise<"rooms" | "ghosts" | undefined> {
    const counts = { rooms: want.rooms ?? 0, ghosts: want.ghosts ?? 0 };
    return this.lock.run(sender, async () => {
      const now = this.now();
      const used = await this.o.store.usedSince(sender, now - CREATION_WINDOW_MS);
      const over = overLimit(used, counts, this.o.limits);
      if (over) {
        this.o.log.warn(
          { sender, used, want: counts, limit: over },
          "a People sender is over a creation limit",
        );
        return over;
      }
      if (counts.rooms > 0 || counts.ghosts > 0) await this.o.store.add(sender, counts, now);
      await this.prune(now);
      return undefined;
    });
  }

  private async prune(now: number): Promise<void> {
    if (now - this.prunedAt < PRUNE_EVERY_MS) return;
    this.prunedAt = now;
    await this.o.store.prune(now - CREATION_WINDOW_MS);
  }
}
