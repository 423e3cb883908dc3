// The content types the client takes itself, by type: a new kind of message
// adds a row here, not a branch in PeopleClient.
import type { ClientMoves } from "./client-moves.js";
import { routeRealtime, type Calls } from "./calls/client-calls.js";
import type { Groups } from "./groups.js";
import type { Posts } from "./posts.js";
import type { Realtime } from "./realtime.js";
import type { ReceivedMessage } from "./receiver.js";

export type ClientRoute = (m: ReceivedMessage) => Promise<void> | void;

export function clientRoutes(o: {
  groups: Groups;
  posts: Posts;
  moves: ClientMoves;
  realtime: Realtime;
  calls: Calls;
}): ReadonlyMap<string, ClientRoute> {
  const realtime: ClientRoute = (m) => routeRealtime(m, o.realtime, o.calls);
  return new Map<string, ClientRoute>([
    ["group_key", (m) => o.groups.receive(m)],
    ["post_notice", (m) => o.posts.notice(m)],
    ["move_notice", (m) => o.moves.received(m)],
    ...(["rt_offer", "rt_answer", "rt_candidate", "rt_frame", "rt_hangup"] as const).map(
      (type) => [type, realtime] as const,
    ),
  ]);
}
