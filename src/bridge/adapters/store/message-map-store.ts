// message_map: which Matrix event is which People message. The primary key
// (matrix_event_id) and UNIQUE(people_sender, people_message_id) make a
// redelivered event or message find its row instead of being bridged twice.
import type { Knex } from "knex";
import { chunks, num } from "../../../store/knex/sql-values.js";
import type { MessageMapping, MessageMapStore } from "../../core/ports/store.js";

interface Row {
  matrix_event_id: string;
  people_message_id: string;
  people_sender: string;
  room_id: string;
  created_at: number | string;
}

const toMapping = (row: Row): MessageMapping => ({
  matrixEventId: row.matrix_event_id,
  peopleMessageId: row.people_message_id,
  peopleSender: row.people_sender,
  roomId: row.room_id,
  createdAt: num(row.created_at),
});

export class KnexMessageMapStore implements MessageMapStore {
  constructor(private readonly db: Knex) {}

  async put(m: MessageMapping): Promise<void> {
    // ON CONFLICT DO NOTHING on either constraint (SQLite and PostgreSQL alike).
    await this.db<Row>("message_map")
      .insert({
        matrix_event_id: m.matrixEventId,
        people_message_id: m.peopleMessageId,
        people_sender: m.peopleSender,
        room_id: m.roomId,
        created_at: m.createdAt,
      })
      .onConflict()
      .ignore();
  }

  async byEvent(matrixEventId: string): Promise<MessageMapping | undefined> {
    const row = await this.db<Row>("message_map").where("matrix_event_id", matrixEventId).first();
    return row && toMapping(row);
  }

  async byMessage(peopleSender: string, peopleMessageId: string): Promise<MessageMapping | undefined> {
    const row = await this.db<Row>("message_map")
      .where({ people_sender: peopleSender, people_message_id: peopleMessageId })
      .first();
    return row && toMapping(row);
  }

  async eventsInRoom(roomId: string, matrixEventIds: readonly string[]): Promise<MessageMapping[]> {
    const out: MessageMapping[] = [];
    for (const part of chunks([...new Set(matrixEventIds)])) {
      const rows = await this.db<Row>("message_map")
        .where("room_id", roomId)
        .whereIn("matrix_event_id", part);
      out.push(...rows.map(toMapping));
    }
    return out;
  }

  async messagesInRoom(roomId: string, peopleMessageIds: readonly string[]): Promise<MessageMapping[]> {
    const out: MessageMapping[] = [];
    for (const part of chunks([...new Set(peopleMessageIds)])) {
      const rows = await this.db<Row>("message_map")
        .where("room_id", roomId)
        .whereIn("people_message_id", part);
      out.push(...rows.map(toMapping));
    }
    return out;
  }
}
