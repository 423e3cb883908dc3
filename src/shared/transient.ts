// Which failures are worth retrying: the network, an overloaded or failing
// server. Everything else is an answer, and retrying it would only repeat it.
import { PeopleError } from "../people/errors.js";

export function isTransient(e: unknown): boolean {
  if (!(e instanceof PeopleError)) return true;
  return e.code === "PEOPLE_UNAVAILABLE" || e.code === "PEOPLE_INTERNAL" || e.code === "PEOPLE_RATE_LIMITED";
}

export function errorCode(e: unknown): PeopleError["code"] {
  return e instanceof PeopleError ? e.code : "PEOPLE_INTERNAL";
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
