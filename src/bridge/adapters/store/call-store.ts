// bridged_calls: the calls ringing or running between a Matrix client and a
// People device, so a restart can hang them up (bridge/calls).
import type { Knex } from "knex";
import { num } from "../../../store/knex/sql-values.js";
import type { BridgedCall, BridgedCallStore } from "../../core/ports/store.js";

interface Row {
  call_id: string;
  session: string;
  room_id: string;
  matrix_user: string;
  people_address: string;
  direction: string;
  people_device: string | null;
  created_at: number | string;
  ended_at: number | string | null;
}

const TABLE = "bridged_calls";

function fromRow(r: Row): BridgedCall {
  return {
    callId: r.call_id,
    session: r.session,
    roomId: r.room_id,
    matrixUser: r.matrix_user,
    peopleAddress: r.people_address,
    direction: r.direction === "to_matrix" ? "to_matrix" : "to_people",
    peopleDevice: r.people_device ?? undefined,
    createdAt: num(r.created_at),
    endedAt: r.ended_at === null ? undefined : num(r.ended_at),
  };
}

export class KnexBridgedCallStore implements BridgedCallStore {
  constructor(private readonly db: Knex) {}

  async put(c: BridgedCall): Promise<void> {
    await this.db<Row>(TABLE)
      .insert({
        call_id: c.callId,
        session: c.session,
        room_id: c.roomId,
        matrix_user: c.matrixUser,
        people_address: c.peopleAddress,
        direction: c.direction,
        people_device: c.peopleDevice ?? null,
        created_at: c.createdAt,
        ended_at: c.endedAt ?? null,
      })
      .onConflict("call_id")
      .ignore();
  }

  async setPeopleDevice(callId: string, device: string): Promise<void> {
    await this.db<Row>(TABLE).where("call_id", callId).update({ people_device: device });
  }

  async byCallId(callId: string): Promise<BridgedCall | undefined> {
    const row = await this.db<Row>(TABLE).where("call_id", callId).first();
    return row && fromRow(row);
  }

  async bySession(session: string): Promise<BridgedCall | undefined> {
    const row = await this.db<Row>(TABLE).where("session", session).first();
    return row && fromRow(row);
  }

  async all(): Promise<BridgedCall[]> {
    return (await this.db<Row>(TABLE).whereNull("ended_at").orderBy("created_at")).map(fromRow);
  }

  async end(callId: string, at: number): Promise<void> {
    await this.db<Row>(TABLE).where("call_id", callId).whereNull("ended_at").update({ ended_at: at });
  }

  async prune(before: number): Promise<void> {
    await this.db(TABLE).whereNotNull("ended_at").where("ended_at", "<", before).del();
  }
}
