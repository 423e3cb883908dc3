// Runs fn over items with at most `limit` at a time (startup and catch-up work
// that must neither run one by one nor all at once). Stops taking new items
// once `stopped()` says so; failures are the caller's to catch inside fn.
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
  stopped: () => boolean = () => false,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stopped()) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
