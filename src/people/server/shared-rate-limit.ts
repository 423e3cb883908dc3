// The RateLimiter's fixed windows, counted in the database so that every
// process of a domain counts against one limit. Windows are aligned to the
// clock (floor(now / window)), so all processes agree on where one starts.
import { PeopleError } from "../errors.js";
import type { RateCountStore } from "../../store/types.js";

/** What IngestService needs of a limiter: the in-memory RateLimiter or this one. */
export interface Limiter {
  /** Count one event for `key`; throws (or rejects with) PEOPLE_RATE_LIMITED past the limit. */
  hit(key: string, now: number): void | Promise<void>;
}

export class SharedRateLimiter implements Limiter {
  constructor(
    private readonly store: RateCountStore,
    /** Keeps the limits of different kinds apart in the one table ("ip", "rcpt"). */
    private readonly scope: string,
    private readonly perWindow: number,
    private readonly windowMs = 60_000,
  ) {}

  async hit(key: string, now: number): Promise<void> {
    const windowStart = Math.floor(now / this.windowMs) * this.windowMs;
    const count = await this.store.hit(`${this.scope}:${key}`, windowStart);
    if (count > this.perWindow) throw new PeopleError("PEOPLE_RATE_LIMITED", "rate limit");
  }

  /** Forget windows that ended (housekeeping). */
  async expire(now: number): Promise<number> {
    return this.store.expire(Math.floor(now / this.windowMs) * this.windowMs);
  }
}
