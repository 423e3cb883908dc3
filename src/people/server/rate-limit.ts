// Fixed-window counters per key (IP address, recipient). Bounded memory: the
// table is cleared at each window, and a key count cap refuses new keys
// rather than growing without end under a flood of distinct sources.
import { PeopleError } from "../errors.js";

export class RateLimiter {
  private counts = new Map<string, number>();
  private windowStart = 0;

  constructor(
    private readonly perWindow: number,
    private readonly windowMs = 60_000,
    private readonly maxKeys = 200_000,
  ) {}

  /** Count one event for `key`; throws PEOPLE_RATE_LIMITED past the limit. */
  hit(key: string, now: number): void {
    if (now - this.windowStart >= this.windowMs) {
      this.counts = new Map();
      this.windowStart = now;
    }
    const n = (this.counts.get(key) ?? 0) + 1;
    if (n > this.perWindow || (n === 1 && this.counts.size >= this.maxKeys)) {
      throw new PeopleError("PEOPLE_RATE_LIMITED", "rate limit");
    }
    this.counts.set(key, n);
  }
}
