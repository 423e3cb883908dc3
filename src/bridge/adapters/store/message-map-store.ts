// message_map: which Matrix event is which People message. The primary key
// (matrix_event_id) and UNIQUE(owner_address, people_sender, people_message_id) make a
// redelivered event or message find its row instead of being bridged twice; the
// owner keeps each Matrix user's copy of one message its own (group rooms share '').
import type { Knex } from "knex";
import { chunks, num } from "../../../store/knex/sql-values.js";
import { SHARED_OWNER, type MessageMapping, type MessageMapStore } from "../../core/ports/store.js";

interface Row {
  matrix_event_id: string;
  people_message_id: string;
  people_sender: string;
  owner_address: string;
  room_id: string;
  created_at: number | string;
}

const toMapping = (row: Row): MessageMapping => ({
  matrixEventId: row.matrix_event_id,
  peopleMessageId: row.people_message_id,
  peopleSender: row.people_sender,
  ...(row.owner_address ? { owner: row.owner_address } : {}),
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
        owner_address: m.owner ?? SHARED_OWNER,
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

  async byMessage(
    peopleSender: string,
    peopleMessageId: string,
    owner?: string,
  ): Promise<MessageMapping | undefined> {
    const query = this.db<Row>("message_map").where({
      people_sender: peopleSender,
      people_message_id: peopleMessageId,
    });
    if (owner !== undefined) query.whereIn("owner_address", [...new Set([owner, SHARED_OWNER])]);
    const row = await query.first();
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
