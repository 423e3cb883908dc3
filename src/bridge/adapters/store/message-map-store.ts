// message_map: which Matrix event is which People message. The primary key
// (matrix_event_id) and UNIQUE(owner_address, people_sender, people_message_id) make a
// redelivered event or message find its row instead of being bridged twice; the
// owner keeps each Matrix user's copy of one message its own (group rooms share '').
import type { Knex } from "knex";
import { chunks, num } from "../../../store/knex/sql-values.js";
import { SHARED_OWNER, type MessageMapping, type MessageMapStore } from "../../core/ports/store.js";
import { FAST_PATH_CLOSED, type SqliteFastPath } from "./sqlite-fast-path.js";

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
  constructor(
    private readonly db: Knex,
    private readonly fast?: SqliteFastPath,
  ) {}

  async put(m: MessageMapping): Promise<void> {
    const sql =
      "INSERT INTO message_map (matrix_event_id, people_message_id, people_sender, owner_address, room_id, " +
      "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING";
    const values = [
      m.matrixEventId,
      m.peopleMessageId,
      m.peopleSender,
      m.owner ?? SHARED_OWNER,
      m.roomId,
      m.createdAt,
    ];
    if (this.fast?.run(sql, values)) return;
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
    let row = this.fast?.get<Row>("SELECT * FROM message_map WHERE matrix_event_id = ? LIMIT 1", [
      matrixEventId,
    ]);
    if (row === FAST_PATH_CLOSED || !this.fast)
      row = await this.db<Row>("message_map").where("matrix_event_id", matrixEventId).first();
    return row && toMapping(row);
  }

  async byMessage(
    peopleSender: string,
    peopleMessageId: string,
    owner?: string,
  ): Promise<MessageMapping | undefined> {
    const owners = owner === undefined ? [] : [...new Set([owner, SHARED_OWNER])];
    const sql =
      "SELECT * FROM message_map WHERE people_sender = ? AND people_message_id = ?" +
      (owners.length > 0 ? ` AND owner_address IN (${owners.map(() => "?").join(", ")})` : "") +
      " LIMIT 1";
    const fast = this.fast?.get<Row>(sql, [peopleSender, peopleMessageId, ...owners]);
    if (fast !== FAST_PATH_CLOSED && this.fast) return fast && toMapping(fast);
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
