// Which failures are worth retrying: the network, an overloaded or failing
// server. Everything else is an answer, and retrying it would only repeat it.
import { PeopleError } from "./errors.js";

export function isTransient(e: unknown): boolean {
  if (!(e instanceof PeopleError)) return true;
  return e.code === "PEOPLE_UNAVAILABLE" || e.code === "PEOPLE_INTERNAL" || e.code === "PEOPLE_RATE_LIMITED";
}

export function errorCode(e: unknown): PeopleError["code"] {
  return e instanceof PeopleError ? e.code : "PEOPLE_INTERNAL";
}
