// A tiny benchmark harness: warm up, then run batches until a time budget is
// spent, and report operations per second. Results are only meaningful as
// ratios to a baseline measured in the same run.
export interface Measurement {
  opsPerSec: number;
  usPerOp: number;
}

export function measure(fn: () => void, budgetMs = 600): Measurement {
  // Warm up for a third of the budget so the JIT has settled before timing.
  const warmUntil = Date.now() + budgetMs / 3;
  while (Date.now() < warmUntil) for (let i = 0; i < 20; i++) fn();
  let ops = 0;
  const start = process.hrtime.bigint();
  let elapsedNs = 0n;
  const budgetNs = BigInt(budgetMs) * 1_000_000n;
  while (elapsedNs < budgetNs) {
    for (let i = 0; i < 20; i++) fn();
    ops += 20;
    elapsedNs = process.hrtime.bigint() - start;
  }
  const seconds = Number(elapsedNs) / 1e9;
  return { opsPerSec: ops / seconds, usPerOp: (seconds * 1e6) / ops };
}

/**
 * The best of several rounds: on a shared machine noise only ever adds time,
 * so the fastest round is the closest to the cost of the work itself. Used
 * alike for the measured code and for its baseline.
 */
export function measureBest(fn: () => void, rounds = 3, budgetMs = 400): Measurement {
  let best: Measurement | undefined;
  for (let i = 0; i < rounds; i++) {
    const m = measure(fn, budgetMs);
    if (!best || m.usPerOp < best.usPerOp) best = m;
  }
  return best!;
}

export async function measureAsync(fn: () => Promise<void>, budgetMs = 600): Promise<Measurement> {
  for (let i = 0; i < 20; i++) await fn();
  let ops = 0;
  const start = process.hrtime.bigint();
  let elapsedNs = 0n;
  const budgetNs = BigInt(budgetMs) * 1_000_000n;
  while (elapsedNs < budgetNs) {
    await fn();
    ops += 1;
    elapsedNs = process.hrtime.bigint() - start;
  }
  const seconds = Number(elapsedNs) / 1e9;
  return { opsPerSec: ops / seconds, usPerOp: (seconds * 1e6) / ops };
}

export function fmt(n: number, digits = 2): string {
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(digits);
}

export function table(rows: Record<string, string | number>[]): void {
  console.table(rows);
}
