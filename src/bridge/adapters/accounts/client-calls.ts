// The PeopleCalls capability of a bridge account (people-side.ts) over its
// PeopleClient's calls manager, which runs signalling only here: the bridge
// holds no media engine, so every SDP is the Matrix client's.
import type { Call } from "../../../people/client/calls/calls.js";
import type { PeopleClient } from "../../../people/client/people-client.js";
import type { PeopleAddress } from "../../../people/protocol/address.js";
import type { CallLeg, CallLegEvents, PeopleCalls } from "../../core/ports/people-side.js";

/** Signals of a lost call are worth little after a couple of minutes. */
const LOST_HANGUP_TTL_MS = 2 * 60_000;

export function clientCalls(client: PeopleClient): PeopleCalls {
  const calls = client.calls;
  return {
    place: async (to, o) => legOf(await calls.call(to, { media: o.media, sdp: o.sdp, timeoutMs: o.ringMs })),
    ringing: (session) => {
      const r = calls.incoming().find((c) => c.session === session);
      return r && { session: r.session, from: r.from, device: r.device, media: r.media, sdp: r.sdp };
    },
    answer: async (session, sdp) => legOf(await calls.answer(session, { sdp })),
    reject: (session, reason) => calls.reject(session, reason),
    iceServers: () => calls.iceServers(),
    hangupLost: async (to: PeopleAddress, session) => {
      await client.send(
        [to],
        { type: "rt_hangup", session, reason: "failed" },
        { ttlMs: LOST_HANGUP_TTL_MS },
      );
    },
  };
}

function legOf(call: Call): CallLeg {
  return {
    session: call.id,
    media: call.media,
    peerDevice: () => call.peer.device,
    addLocalCandidates: (c) => call.addLocalCandidates(c),
    hangup: (reason = "normal") => call.terminate(reason, false, true),
    connected: () => call.markActive(),
    on: <K extends keyof CallLegEvents>(event: K, listener: (value: CallLegEvents[K]) => void) => {
      // The calls manager's event of the same name carries the same value (a superset for `ended`).
      return call.on(event, listener as never);
    },
  };
}
