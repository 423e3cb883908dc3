// catchup_marks: per room, where catch-up starts reading its history after a
// homeserver outage (the positions are explained in migrations/004-catchup.ts).
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { CatchUpMark, CatchUpStore } from "../../core/ports/store.js";
import type { SqliteFastPath } from "./sqlite-fast-path.js";

const TABLE = "catchup_marks";

interface Row {
  room_id: string;
  seen_event_id: string | null;
  seen_ts: number | string | null;
  candidate_event_id: string | null;
  candidate_ts: number | string | null;
  safe_event_id: string | null;
  safe_ts: number | string;
  updated_at: number | string;
}

const toMark = (row: Row): CatchUpMark => ({
  roomId: row.room_id,
  eventId: row.safe_event_id,
  eventTs: num(row.safe_ts),
});

export class KnexCatchUpStore implements CatchUpStore {
  constructor(
    private readonly db: Knex,
    private readonly now: () => number = Date.now,
    private readonly fast?: SqliteFastPath,
  ) {}

  async seen(roomId: string, eventId: string, eventTs: number): Promise<void> {
    // ON CONFLICT DO UPDATE ... WHERE: a late writer with an older event leaves a newer one alone.
    // A new room is safe from this event's time on (catch-up reads back to it).
    const sql =
      `INSERT INTO ${TABLE} (room_id, seen_event_id, seen_ts, safe_ts, updated_at) VALUES (?, ?, ?, ?, ?) ` +
      "ON CONFLICT (room_id) DO UPDATE SET seen_event_id = excluded.seen_event_id, seen_ts = excluded.seen_ts, " +
      `updated_at = excluded.updated_at WHERE ${TABLE}.seen_ts IS NULL OR ${TABLE}.seen_ts <= ?`;
    if (this.fast?.run(sql, [roomId, eventId, eventTs, eventTs, this.now(), eventTs])) return;
    await this.db<Row>(TABLE)
      .insert({
        room_id: roomId,
        seen_event_id: eventId,
        seen_ts: eventTs,
        safe_ts: eventTs,
        updated_at: this.now(),
      })
      .onConflict("room_id")
      .merge(["seen_event_id", "seen_ts", "updated_at"])
      .where((q) => q.whereNull(`${TABLE}.seen_ts`).orWhere(`${TABLE}.seen_ts`, "<=", eventTs));
  }

  async caughtUp(roomId: string, eventId: string, eventTs: number): Promise<void> {
    await this.db<Row>(TABLE)
      .where("room_id", roomId)
      .update({ safe_event_id: eventId, safe_ts: eventTs, updated_at: this.now() });
    await this.seen(roomId, eventId, eventTs);
  }

  async promote(): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx<Row>(TABLE)
        .whereNotNull("candidate_event_id")
        // Never back behind what catch-up itself made safe.
        .whereRaw("candidate_ts >= safe_ts")
        .where((q) => q.whereNull("safe_event_id").orWhereRaw("safe_event_id <> candidate_event_id"))
        .update({ safe_event_id: trx.ref("candidate_event_id"), safe_ts: trx.ref("candidate_ts") } as never);
      await trx<Row>(TABLE)
        .whereNotNull("seen_event_id")
        .where((q) => q.whereNull("candidate_event_id").orWhereRaw("candidate_event_id <> seen_event_id"))
        .update({ candidate_event_id: trx.ref("seen_event_id"), candidate_ts: trx.ref("seen_ts") } as never);
    });
  }

  async forgetCandidates(): Promise<void> {
    await this.db<Row>(TABLE)
      .whereNotNull("candidate_event_id")
      .update({ candidate_event_id: null, candidate_ts: null });
  }

  async list(): Promise<CatchUpMark[]> {
    const rows = await this.db<Row>(TABLE).orderBy("room_id");
    return rows.map(toMark);
  }
}
