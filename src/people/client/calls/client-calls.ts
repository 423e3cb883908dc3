// How a PeopleClient wires its calls: the media engine from the client's
// options, TURN from its own server, and which realtime messages are a call's.
import type { InboxEntry } from "../local-store.js";
import type { Realtime } from "../realtime.js";
import { Calls, type CallsDeps } from "./calls.js";
import { TurnCredentials } from "./turn.js";

export type { Calls } from "./calls.js";

/** Voice and video calls (calls/calls.ts). */
export type CallsFacet = Pick<
  Calls,
  "call" | "answer" | "reject" | "incoming" | "calls" | "iceServers" | "on" | "events"
>;

export function createCalls(
  o: Omit<CallsDeps, "iceServers"> & { turn: ConstructorParameters<typeof TurnCredentials>[0] },
): Calls {
  const turn = new TurnCredentials(o.turn);
  return new Calls({ ...o, iceServers: () => turn.iceServers() });
}

/** rt_* messages: a call's (voice, video, candidates, or a session the calls manager knows) or a data session's. */
export function routeRealtime(m: InboxEntry, realtime: Realtime, calls: Calls): Promise<void> {
  const c = m.content;
  const isCall =
    c.type === "rt_candidate" ||
    (c.type === "rt_offer" && c.media !== "data") ||
    ((c.type === "rt_answer" || c.type === "rt_hangup") && calls.owns(c.session));
  return isCall ? calls.signal(m) : realtime.signal(m);
}
