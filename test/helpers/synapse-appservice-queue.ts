// What the test Synapse still holds for its appservices, read from its SQLite
// database (query_only, while it runs): the appservice's state (up/down) and
// the transactions it created and never got an answer for. Synapse deletes a
// transaction once pushed; one left behind while the state is "up" and no
// recoverer runs is never pushed until the next failed push starts one
// (synapse/appservice/scheduler.py: a transaction created while the
// appservice was down, after the recoverer's last look at the queue and before
// it set the state back to up). That is how an event can reach the homeserver
// and never the bridge, without a warning on either side.
import { join } from "node:path";
import Database from "better-sqlite3";

export interface UnsentTransaction {
  txnId: number;
  events: { eventId: string; roomId?: string; sender?: string; type?: string }[];
}

export interface AppserviceQueue {
  /** Per appservice id: "up", "down", or null (no push tried yet). */
  states: Record<string, string | null>;
  unsent: UnsentTransaction[];
}

/** The appservice state and unsent transactions in the Synapse whose files are in `hsDir`. */
export function appserviceQueue(hsDir: string): AppserviceQueue {
  const db = new Database(join(hsDir, "homeserver.db"), { timeout: 10_000 });
  try {
    db.pragma("query_only = ON"); // Synapse's own database: read, never written
    const states: Record<string, string | null> = {};
    for (const r of db.prepare("SELECT as_id, state FROM application_services_state").all() as {
      as_id: string;
      state: string | null;
    }[])
      states[r.as_id] = r.state;
    const event = db.prepare("SELECT room_id, sender, type FROM events WHERE event_id = ?");
    const rows = db
      .prepare("SELECT txn_id, event_ids FROM application_services_txns ORDER BY txn_id")
      .all() as { txn_id: number; event_ids: string }[];
    const unsent = rows.map((r) => ({
      txnId: r.txn_id,
      events: (JSON.parse(r.event_ids) as string[]).map((eventId) => {
        const e = event.get(eventId) as { room_id: string; sender: string; type: string } | undefined;
        return e ? { eventId, roomId: e.room_id, sender: e.sender, type: e.type } : { eventId };
      }),
    }));
    return { states, unsent };
  } finally {
    db.close();
  }
}

/** One line per finding, for a test's printout. */
export function describeAppserviceQueue(q: AppserviceQueue): string[] {
  const states = Object.entries(q.states).map(([id, s]) => `${id} ${s ?? "untried"}`);
  const up = Object.values(q.states).every((s) => s !== "down");
  const lines = [
    `appservice state: ${states.join(", ") || "none"}; ${q.unsent.length} transactions created and not pushed` +
      (q.unsent.length > 0 && up ? " while up (stuck until the next failed push starts a recoverer)" : ""),
  ];
  for (const t of q.unsent.slice(0, 10))
    lines.push(
      `unsent transaction ${t.txnId}: ` +
        t.events
          .map((e) => `${e.eventId} ${e.type ?? "?"} from ${e.sender ?? "?"} in ${e.roomId ?? "?"}`)
          .join("; "),
    );
  return lines;
}
