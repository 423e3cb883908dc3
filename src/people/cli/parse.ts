// Option values: durations ("30s", "10m", "2h", "7d"), points in time (a
// duration ago, or a date), counts. A bad value is a usage error naming it.
import { UsageError } from "./errors.js";

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseDuration(value: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$/.exec(value.trim());
  if (!m) throw new UsageError(value, `${option} expects a duration like 30s, 10m, 2h or 7d`);
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
}

/** `--since`: a duration before now, or a date (2025-01-31, 2025-01-31T14:00). */
export function parseSince(value: string, now = Date.now()): number {
  if (/^\d+(?:\.\d+)?\s*[smhdw]$/.test(value.trim())) return now - parseDuration(value, "--since");
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    throw new UsageError(value, "--since expects a duration like 2h or 7d, or a date like 2025-01-31");
  }
  return ms;
}

export function parseCount(value: string, option: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(value, `${option} expects a whole number of at least 1`);
  }
  return n;
}
