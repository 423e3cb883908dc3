// send_status: messages whose send status is still being told (migrations/011-send-status.ts).
import type { Knex } from "knex";
import { z } from "zod";
import { num } from "../../../store/knex/sql-values.js";
import type { SendStatusRecord, SendStatusStore } from "../../core/ports/store.js";

const TABLE = "send_status";

interface Row {
  matrix_event_id: string;
  room_id: string;
  people_sender: string;
  people_message_id: string;
  notice_ghost: string;
  label: string;
  copies: string;
  said: string | null;
  updated_at: number | string;
}

const COPIES = z.record(
  z.string(),
  z.discriminatedUnion("state", [
    z.strictObject({ state: z.literal("queued") }),
    z.strictObject({ state: z.literal("waiting"), code: z.string() }),
    z.strictObject({ state: z.literal("delivered") }),
    z.strictObject({ state: z.literal("failed"), code: z.string() }),
  ]),
);
const SAID = z.enum(["SUCCESS", "PENDING", "FAIL_RETRIABLE", "FAIL_PERMANENT"]).nullable();

/** The row as the bridge uses it; a row that does not parse (edited by hand) is an error, not a guess. */
const toRecord = (row: Row): SendStatusRecord => ({
  matrixEventId: row.matrix_event_id,
  roomId: row.room_id,
  peopleSender: row.people_sender,
  peopleMessageId: row.people_message_id,
  noticeGhost: row.notice_ghost,
  label: row.label,
  copies: COPIES.parse(JSON.parse(row.copies)),
  said: SAID.parse(row.said),
  updatedAt: num(row.updated_at),
});

export class KnexSendStatusStore implements SendStatusStore {
  constructor(private readonly db: Knex) {}

  async put(r: SendStatusRecord): Promise<void> {
    await this.db<Row>(TABLE)
      .insert({
        matrix_event_id: r.matrixEventId,
        room_id: r.roomId,
        people_sender: r.peopleSender,
        people_message_id: r.peopleMessageId,
        notice_ghost: r.noticeGhost,
        label: r.label,
        copies: JSON.stringify(r.copies),
        said: r.said,
        updated_at: r.updatedAt,
      })
      .onConflict("matrix_event_id")
      .merge(["copies", "said", "updated_at"]);
  }

  async byMessage(peopleSender: string, peopleMessageId: string): Promise<SendStatusRecord | undefined> {
    const row = await this.db<Row>(TABLE)
      .where({ people_sender: peopleSender, people_message_id: peopleMessageId })
      .first();
    return row && toRecord(row);
  }

  async remove(matrixEventId: string): Promise<void> {
    await this.db(TABLE).where("matrix_event_id", matrixEventId).del();
  }
}
