// portal_bridge_state: the bridge state each portal room was last given (or
// found with), so a start checks only rooms whose label changed.
import type { Knex } from "knex";
import type { BridgeStateRecordStore } from "../../core/ports/store.js";

interface Row {
  room_id: string;
  label: string;
  checked_at: number | string;
}

export class KnexBridgeStateRecordStore implements BridgeStateRecordStore {
  constructor(
    private readonly db: Knex,
    private readonly now: () => number = Date.now,
  ) {}

  async all(): Promise<Map<string, string>> {
    const rows = await this.db<Row>("portal_bridge_state").select("room_id", "label");
    return new Map(rows.map((r) => [r.room_id, r.label]));
  }

  async put(roomId: string, label: string): Promise<void> {
    await this.db<Row>("portal_bridge_state")
      .insert({ room_id: roomId, label, checked_at: this.now() })
      .onConflict("room_id")
      .merge();
  }

  async forget(roomId: string): Promise<void> {
    await this.db<Row>("portal_bridge_state").where("room_id", roomId).delete();
  }
}
