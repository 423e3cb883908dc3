// A user's power in a room against the power to change its settings (state
// events: state_default, 50 unless the room says otherwise), read as a ghost
// of the room. From room version 12 the creators (the creator and
// additional_creators) are above every level.
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { MatrixUserId } from "../model/matrix-ids.js";

const CREATORS_UNLIMITED = new Set(["12"]);

function int(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) ? value : undefined;
}

export async function roomPowerOf(
  ghosts: Pick<GhostSide, "roomState">,
  ghost: MatrixUserId,
  roomId: string,
  user: string,
): Promise<{ user: number; settings: number }> {
  const [create, levels] = await Promise.all([
    ghosts.roomState(ghost, roomId, "m.room.create", ""),
    ghosts.roomState(ghost, roomId, "m.room.power_levels", ""),
  ]);
  const pl = levels?.content ?? {};
  const settings = int(pl.state_default) ?? (levels ? 50 : 0);
  const version = String(create?.content.room_version ?? "1");
  if (CREATORS_UNLIMITED.has(version)) {
    const extra = create?.content.additional_creators;
    const creators = [create?.sender, ...(Array.isArray(extra) ? extra : [])];
    if (creators.includes(user)) return { user: Number.MAX_SAFE_INTEGER, settings };
  }
  const users = (pl.users && typeof pl.users === "object" ? pl.users : {}) as Record<string, unknown>;
  // Without a power_levels event the creator has 100 (before version 12) and everyone else 0.
  const fallback = levels ? (int(pl.users_default) ?? 0) : create?.sender === user ? 100 : 0;
  return { user: int(users[user]) ?? fallback, settings };
}
