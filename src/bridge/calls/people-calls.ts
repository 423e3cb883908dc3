// People calls to a Matrix user's account, into the DM portal: an offer
// rings in Element as an m.call.invite from the caller's ghost (its party id
// the calling device); the caller giving up before an answer ends the ring.
// Once the Matrix user answers (matrix-calls.ts) the call runs as a leg.
// And at start: calls a restart left behind are hung up on both sides.
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { MatrixUserId } from "../model/matrix-ids.js";
import type { IncomingHandler, PeopleSide } from "../core/ports/people-side.js";
import type { Portal } from "../core/ports/store.js";
import { KEEP_ENDED_MS, live, type CallContext } from "./call-context.js";
import { hangupContent, inviteContent, rejectContent } from "./matrix-call-content.js";

/** How long Element rings for a People call (the caller gives up after 60 s by default). */
export const RING_MS = 60_000;

export interface PeopleCallsOptions {
  ctx: CallContext;
  people: PeopleSide;
  dms: {
    byPair(user: string, address: PeopleAddress): Promise<Portal | undefined>;
    ensurePortal(user: MatrixUserId, address: PeopleAddress): Promise<{ portal: Portal }>;
  };
  ensureGhost(address: PeopleAddress): Promise<void>;
}

export class PeopleCalls {
  constructor(private readonly o: PeopleCallsOptions) {}

  /** The calls feature's own flow (rt_*): acknowledged once the ring or its end is in the room. */
  readonly flow: IncomingHandler = async (account, m) => {
    const ctx = this.o.ctx;
    const c = m.content;
    if (c.type === "rt_offer") {
      if (c.media === "data") return; // a data session, not a call: nothing of it reaches Matrix
      const ring = account.calls?.ringing(c.session);
      if (!ring || (await ctx.store.bySession(c.session))) return;
      const portal =
        (await this.o.dms.byPair(account.owner, m.from)) ??
        (await this.o.dms.ensurePortal(account.owner, m.from)).portal;
      await this.o.ensureGhost(m.from);
      const row = {
        callId: c.session,
        session: c.session,
        roomId: portal.roomId,
        matrixUser: account.owner,
        peopleAddress: m.from,
        direction: "to_matrix" as const,
        peopleDevice: ring.device,
        createdAt: ctx.now(),
      };
      await ctx.lock.run(row.callId, async () => {
        await ctx.store.put(row);
        const content = inviteContent({
          callId: row.callId,
          partyId: ring.device,
          sdp: ring.sdp,
          lifetimeMs: RING_MS,
          invitee: account.owner,
        });
        await ctx.send(row, "m.call.invite", content);
        ctx.count("to_matrix", "started");
      });
      return;
    }
    if (c.type === "rt_hangup") {
      const row = await ctx.store.bySession(c.session);
      if (!live(row) || row.direction !== "to_matrix" || row.peopleAddress !== m.from) return;
      await ctx.lock.run(row.callId, async () => {
        if (ctx.leg(row.callId) || !live(await ctx.store.byCallId(row.callId))) return; // answered: the leg ends it
        const reason =
          c.reason === "timeout" ? "invite_timeout" : c.reason === "busy" ? "user_busy" : "user_hangup";
        await ctx.send(row, "m.call.hangup", hangupContent(row.callId, row.peopleDevice ?? "people", reason));
        await ctx.store.end(row.callId, ctx.now());
      });
    }
  };

  /** Calls a restart left behind: both sides are told the call is over, then forgotten. */
  async hangUpLeftovers(): Promise<number> {
    const ctx = this.o.ctx;
    await ctx.store.prune(ctx.now() - KEEP_ENDED_MS);
    const rows = await ctx.store.all();
    for (const row of rows) {
      try {
        const party = row.peopleDevice ?? "people";
        // Element's caller listens for a reject before an answer, a hangup after it.
        const unanswered = row.direction === "to_people" && row.peopleDevice === undefined;
        if (unanswered)
          await ctx.send(row, "m.call.reject", {
            ...rejectContent(row.callId, party),
            reason: "unknown_error",
          });
        else await ctx.send(row, "m.call.hangup", hangupContent(row.callId, party, "unknown_error"));
        const account = await this.o.people.accountFor(row.matrixUser);
        await account.calls?.hangupLost(row.peopleAddress as PeopleAddress, row.session);
        ctx.count(row.direction, "failed");
      } catch (err) {
        ctx.log.warn({ err, callId: row.callId }, "a call left by a restart could not be hung up");
      }
      await ctx.store.end(row.callId, ctx.now());
    }
    return rows.length;
  }
}
