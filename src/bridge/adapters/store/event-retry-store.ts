// event_retries: Matrix room events kept to be tried again (migrations/009-event-retries.ts).
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { EventRetry, EventRetryStore } from "../../core/ports/store.js";

const TABLE = "event_retries";

interface Row {
  seq: number;
  event_id: string;
  room_id: string;
  event_json: string;
  waits_for: string | null;
  first_failed_at: number | string;
  attempts: number | string;
  next_attempt_at: number | string;
}

const toRetry = (row: Row): EventRetry => ({
  eventId: row.event_id,
  roomId: row.room_id,
  eventJson: row.event_json,
  waitsFor: row.waits_for,
  firstFailedAt: num(row.first_failed_at),
  attempts: num(row.attempts),
  nextAttemptAt: num(row.next_attempt_at),
});

export class KnexEventRetryStore implements EventRetryStore {
  constructor(private readonly db: Knex) {}

  async put(r: EventRetry): Promise<boolean> {
    const inserted = await this.db<Row>(TABLE)
      .insert({
        event_id: r.eventId,
        room_id: r.roomId,
        event_json: r.eventJson,
        waits_for: r.waitsFor,
        first_failed_at: r.firstFailedAt,
        attempts: r.attempts,
        next_attempt_at: r.nextAttemptAt,
      })
      .onConflict("event_id")
      .ignore()
      .returning("event_id");
    return inserted.length > 0;
  }

  async list(): Promise<EventRetry[]> {
    const rows = await this.db<Row>(TABLE).orderBy("seq");
    return rows.map(toRetry);
  }

  async reschedule(eventId: string, attempts: number, nextAttemptAt: number): Promise<void> {
    await this.db<Row>(TABLE).where("event_id", eventId).update({ attempts, next_attempt_at: nextAttemptAt });
  }

  async remove(eventId: string): Promise<void> {
    await this.db<Row>(TABLE).where("event_id", eventId).del();
  }
}
