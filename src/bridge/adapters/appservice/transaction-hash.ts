// What identifies a transaction's content beside its id, so a homeserver that
// reuses an id (Synapse on SQLite after a restart) is not answered by the first delivery.
import { createHash } from "node:crypto";
import type { TransactionExtensions } from "../crypto/transaction-extensions.js";

type Json = Record<string, unknown>;

/** Over the ordered event ids: what stays the same when a homeserver retries a transaction. */
export function eventsHash(events: readonly Json[]): string {
  return createHash("sha256")
    .update(JSON.stringify(events.map((e) => (typeof e.event_id === "string" ? e.event_id : null))))
    .digest("hex");
}

/**
 * Its events' ids, or, for one without room events, its ephemeral events and encryption entries
 * (a homeserver that reuses an id after a restart must not have a later transaction of room keys
 * taken for the earlier one).
 */
export function transactionHash(
  events: readonly Json[],
  ephemeral: readonly Json[],
  extensions: TransactionExtensions,
): string {
  if (events.length > 0) return eventsHash(events);
  const { dropped: _dropped, ...entries } = extensions;
  return createHash("sha256").update(JSON.stringify({ ephemeral, entries })).digest("hex");
}
