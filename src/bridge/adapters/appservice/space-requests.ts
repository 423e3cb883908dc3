// The personal spaces' Matrix requests (spaces/personal-spaces.ts), as the bot
// through the appservice token: the space made with creation_content type
// m.space, only the bot able to change it; children and parents as state.
import type { SpaceMatrix } from "../../spaces/personal-spaces.js";
import { isBridgeError } from "../../core/error-kinds.js";
import type { AppserviceHttp } from "./appservice-http.js";

export function spaceRequests(
  http: AppserviceHttp,
  botUserId: string,
  homeserverDomain: string,
): SpaceMatrix {
  const as = { userId: botUserId };
  const via = [homeserverDomain];
  const room = (id: string) => `/_matrix/client/v3/rooms/${encodeURIComponent(id)}`;
  return {
    async createSpace(o) {
      const r = await http.request("POST", "/_matrix/client/v3/createRoom", as, {
        preset: "private_chat",
        visibility: "private",
        name: o.name,
        creation_content: { type: "m.space" },
        invite: [o.invite],
        // The bridge keeps the space's rooms; its user reads it.
        power_level_content_override: { events_default: 100, state_default: 100, invite: 100 },
        ...(o.avatar
          ? { initial_state: [{ type: "m.room.avatar", state_key: "", content: { url: o.avatar } }] }
          : {}),
      });
      if (typeof r.room_id !== "string") throw new Error("createRoom answered without a room_id");
      return r.room_id;
    },
    async setChild(spaceId, roomId) {
      await http.request("PUT", `${room(spaceId)}/state/m.space.child/${encodeURIComponent(roomId)}`, as, {
        via,
      });
    },
    async setParent(roomId, spaceId) {
      try {
        await http.request("PUT", `${room(roomId)}/state/m.space.parent/${encodeURIComponent(spaceId)}`, as, {
          via,
          canonical: true,
        });
        return true;
      } catch (err) {
        // Not in the room, or without the power there (a room a ghost or the user made).
        if (isBridgeError(err, "matrix_http") && (err.status === 403 || err.status === 404)) return false;
        throw err;
      }
    },
  };
}
