// A server's JSON answer is validated before anything in it is used; a
// malformed one is the server's failure (PEOPLE_UNAVAILABLE), not a crash.
import type { z } from "zod";
import { PeopleError } from "../errors.js";

export function parseAnswer<T>(schema: z.ZodType<T>, json: unknown, what: string): T {
  const result = schema.safeParse(json);
  if (!result.success) throw new PeopleError("PEOPLE_UNAVAILABLE", `malformed answer: ${what}`);
  return result.data;
}

/** The body as JSON, or null when it is not JSON. */
export function jsonOrNull(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString("utf8")) as unknown;
  } catch {
    return null;
  }
}
