// How long one failing item (a Matrix event, a People message) is tried again
// before the bridge gives up on it: the homeserver resends a failed
// transaction, the People server a message that was not acknowledged, and
// both hold up everything behind it while they do. Within the window a
// failure is "try again later"; past it, the item is reported and let go.

export const DEFAULT_RETRY_WINDOW_MS = 10 * 60_000;
const MAX_TRACKED = 10_000;

export class RetryWindow {
  private readonly since = new Map<string, number>();

  constructor(
    readonly windowMs = DEFAULT_RETRY_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a failure of `key`: true while it has been failing for less than the window. */
  failed(key: string): boolean {
    const now = this.now();
    const first = this.since.get(key) ?? now;
    this.since.set(key, first);
    if (this.since.size > MAX_TRACKED) this.since.delete(this.since.keys().next().value!);
    const retry = now - first < this.windowMs;
    if (!retry) this.since.delete(key);
    return retry;
  }

  /** `key` has been failing since `since` (kept across restarts by the bridge's retry queue). */
  seed(key: string, since: number): void {
    const first = this.since.get(key);
    if (first === undefined || since < first) this.since.set(key, since);
  }

  succeeded(key: string): void {
    this.since.delete(key);
  }
}
