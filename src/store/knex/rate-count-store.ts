// Fixed-window rate counters shared by the processes of a domain: one row per
// key and window, counted by an atomic upsert that returns the new count, so
// concurrent hits on several processes never lose an increment. Concurrent
// hits of one process share one statement (group commit); each caller is
// handed its own count, as if the hits had come one by one.

import type { Knex } from "knex";
import type { RateCountStore } from "../types.js";
import { GroupCommit, type ItemOutcome } from "./group-commit.js";
import { chunks, num } from "./sql-values.js";

interface Hit {
  key: string;
  windowStart: number;
}

export class KnexRateCountStore implements RateCountStore {
  private readonly commits: GroupCommit<Hit, number>;

  constructor(private readonly db: Knex) {
    this.commits = new GroupCommit((hits) => this.writeBatch(hits));
  }

  hit(key: string, windowStart: number): Promise<number> {
    return this.commits.submit({ key, windowStart });
  }

  private async writeBatch(hits: readonly Hit[]): Promise<ItemOutcome<number>[]> {
    // One row per (window, key) with the number of hits it gets in this batch.
    const added = new Map<number, Map<string, number>>();
    for (const h of hits) {
      const keys = added.get(h.windowStart) ?? new Map<string, number>();
      keys.set(h.key, (keys.get(h.key) ?? 0) + 1);
      added.set(h.windowStart, keys);
    }
    const after = new Map<string, number>();
    for (const [windowStart, keys] of added) {
      for (const part of chunks([...keys], 200)) {
        const rows = (await this.db("rate_counts")
          .insert(part.map(([key, n]) => ({ key, window_start: windowStart, count: n })))
          .onConflict(["key", "window_start"])
          .merge({ count: this.db.raw("rate_counts.count + excluded.count") })
          .returning(["key", "count"])) as { key: string; count: number | string }[];
        for (const r of rows) after.set(`${windowStart}\n${r.key}`, num(r.count));
      }
    }
    // Hand out the counts in arrival order: the last hit of a key gets the total.
    const left = new Map<string, number>();
    for (const h of hits) {
      const id = `${h.windowStart}\n${h.key}`;
      left.set(id, (left.get(id) ?? 0) + 1);
    }
    return hits.map((h) => {
      const id = `${h.windowStart}\n${h.key}`;
      const remaining = left.get(id)! - 1;
      left.set(id, remaining);
      const total = after.get(id);
      if (total === undefined)
        return { ok: false, error: new Error("store: rate count upsert returned no row") };
      return { ok: true, value: total - remaining };
    });
  }

  /** Resolves when no hit is queued or in flight. */
  idle(): Promise<void> {
    return this.commits.idle();
  }

  async expire(before: number): Promise<number> {
    return this.db("rate_counts").where("window_start", "<", before).del();
  }
}
