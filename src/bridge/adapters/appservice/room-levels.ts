// The power levels of a room the bridge just made: its admins raised to 100 and the call
// membership types open to members (model/call-power.ts), in one m.room.power_levels event, sent
// only when something changes. Done after createRoom rather than with power_level_content_override:
// room version 12 refuses the creator in `users`, older versions lose the creator's level when
// `users` is replaced, and an `events` override would drop Synapse's defaults (v12's tombstone 150).
import { withCallMembersAllowed } from "../../model/call-power.js";

interface LevelsClient {
  getRoomStateEvent(roomId: string, type: string, stateKey: string): Promise<unknown>;
  sendStateEvent(roomId: string, type: string, stateKey: string, content: unknown): Promise<unknown>;
}

export async function settleRoomLevels(
  client: LevelsClient,
  roomId: string,
  admins: readonly string[] = [],
): Promise<void> {
  const read = await client.getRoomStateEvent(roomId, "m.room.power_levels", "");
  const levels = (read && typeof read === "object" ? read : {}) as Record<string, unknown>;
  const calls = withCallMembersAllowed(levels);
  const users = { ...(levels.users as Record<string, number> | undefined) };
  for (const admin of admins) users[admin] = 100;
  if (!calls && admins.length === 0) return;
  await client.sendStateEvent(roomId, "m.room.power_levels", "", {
    ...(calls ?? levels),
    ...(admins.length > 0 ? { users } : {}),
  });
}
