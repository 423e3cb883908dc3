// rtc_calls: the MatrixRTC calls ringing or running (adapters/rtc), so a start after a crash
// ends both legs of each (migration 023).
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { RtcCallRecord, RtcCallStore } from "../../core/ports/store.js";

interface Row {
  call_id: string;
  room_id: string;
  matrix_user: string;
  people_address: string;
  ghost: string;
  direction: string;
  media: string;
  state: string;
  session: string | null;
  ghost_device: string | null;
  delay_id: string | null;
  answered_at: number | string | null;
  created_at: number | string;
}

const TABLE = "rtc_calls";

function fromRow(r: Row): RtcCallRecord {
  return {
    callId: r.call_id,
    roomId: r.room_id,
    matrixUser: r.matrix_user,
    peopleAddress: r.people_address,
    ghost: r.ghost,
    direction: r.direction === "to_matrix" ? "to_matrix" : "to_people",
    media: r.media === "video" ? "video" : "voice",
    state: r.state === "active" ? "active" : "ringing",
    session: r.session ?? undefined,
    ghostDevice: r.ghost_device ?? undefined,
    delayId: r.delay_id ?? undefined,
    answeredAt: r.answered_at === null ? undefined : num(r.answered_at),
    createdAt: num(r.created_at),
  };
}

export class KnexRtcCallStore implements RtcCallStore {
  constructor(private readonly db: Knex) {}

  async put(c: RtcCallRecord): Promise<void> {
    await this.db<Row>(TABLE)
      .insert({
        call_id: c.callId,
        room_id: c.roomId,
        matrix_user: c.matrixUser,
        people_address: c.peopleAddress,
        ghost: c.ghost,
        direction: c.direction,
        media: c.media,
        state: c.state,
        session: c.session ?? null,
        ghost_device: c.ghostDevice ?? null,
        delay_id: c.delayId ?? null,
        answered_at: c.answeredAt ?? null,
        created_at: c.createdAt,
      })
      .onConflict("call_id")
      .ignore();
  }

  async update(
    callId: string,
    change: Partial<Pick<RtcCallRecord, "state" | "session" | "ghostDevice" | "delayId" | "answeredAt">>,
  ): Promise<void> {
    const row: Partial<Row> = {};
    if (change.state !== undefined) row.state = change.state;
    if (change.session !== undefined) row.session = change.session;
    if (change.ghostDevice !== undefined) row.ghost_device = change.ghostDevice;
    if (change.delayId !== undefined) row.delay_id = change.delayId;
    if (change.answeredAt !== undefined) row.answered_at = change.answeredAt;
    if (Object.keys(row).length > 0) await this.db<Row>(TABLE).where("call_id", callId).update(row);
  }

  async all(): Promise<RtcCallRecord[]> {
    return (await this.db<Row>(TABLE).orderBy("created_at")).map(fromRow);
  }

  async remove(callId: string): Promise<void> {
    await this.db(TABLE).where("call_id", callId).del();
  }
}
