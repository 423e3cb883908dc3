// personal_spaces and personal_space_children (migration 017): each user's
// space, and the rooms it holds. The primary keys make adding twice harmless.
import type { Knex } from "knex";
import type { PersonalSpaceStore } from "../../core/ports/store.js";

export class KnexPersonalSpaceStore implements PersonalSpaceStore {
  constructor(private readonly db: Knex) {}

  async spaceOf(matrixUser: string): Promise<string | undefined> {
    const row = (await this.db("personal_spaces").where({ matrix_user: matrixUser }).first("room_id")) as
      { room_id: string } | undefined;
    return row?.room_id;
  }

  async putSpace(matrixUser: string, roomId: string, now: number): Promise<void> {
    await this.db("personal_spaces")
      .insert({ matrix_user: matrixUser, room_id: roomId, created_at: now })
      .onConflict("matrix_user")
      .ignore();
  }

  async hasChild(spaceId: string, roomId: string): Promise<boolean> {
    return (
      (await this.db("personal_space_children").where({ space_id: spaceId, room_id: roomId }).first()) !==
      undefined
    );
  }

  async putChild(spaceId: string, roomId: string): Promise<void> {
    await this.db("personal_space_children")
      .insert({ space_id: spaceId, room_id: roomId })
      .onConflict(["space_id", "room_id"])
      .ignore();
  }
}
