// Element's 1:1 call events in a DM portal, to the People call of the
// portal's user (signalling only: Element's SDP goes to the People device,
// media flows between them). An invite places a People call that rings on
// every device of the address; candidates, hangup and reject follow it; an
// answer takes a People call that rings here. In a group portal a call is
// answered with a notice: only 1:1 calls are bridged.
import type { PeopleAddress } from "../../people/protocol/address.js";
import { errorCode } from "../../people/transient.js";
import type { RoomEvent } from "../core/ports/matrix-side.js";
import type { PeopleSide } from "../core/ports/people-side.js";
import type { Permissions } from "../core/permissions.js";
import type { Portal } from "../core/ports/store.js";
import { KEEP_ENDED_MS, live, type CallContext } from "./call-context.js";
import {
  isCallEventType,
  parseCallEvent,
  peopleReason,
  rejectContent,
  selectAnswerContent,
  type MatrixCallEvent,
} from "./matrix-call-content.js";

export const GROUP_CALL_TEXT =
  "Calls in group rooms are not bridged: only calls between two people (a direct chat with one People address) reach People.";
export const NEGOTIATE_TEXT =
  "Changing a call's media while it runs (adding video, sharing a screen) is not carried to People; the call goes on as it started.";
export const NO_CALLS_TEXT = "This bridge cannot place People calls.";

export interface MatrixCallsOptions {
  ctx: CallContext;
  people: PeopleSide;
  permissions: Permissions;
  dms: { byRoom(roomId: string): Promise<Portal | undefined> };
  groups: {
    byRoom(roomId: string): Promise<{ members: { address: string; matrixUser?: string }[] } | undefined>;
  };
}

export class MatrixCalls {
  constructor(private readonly o: MatrixCallsOptions) {}

  /** True when the event is a call event (handled here, whatever became of it). */
  readonly handle = async (event: RoomEvent): Promise<boolean> => {
    if (!isCallEventType(event.type)) return false;
    const portal = await this.o.dms.byRoom(event.roomId);
    if (!portal) {
      const group = event.type === "m.call.invite" ? await this.o.groups.byRoom(event.roomId) : undefined;
      if (!group) return false;
      // A People member's ghost answers (the room's speaker, as for the group's other notices).
      const ghost = group.members.find((m) => !m.matrixUser);
      if (ghost)
        await this.o.ctx.tell(event.roomId, ghost.address as PeopleAddress, GROUP_CALL_TEXT, event.eventId);
      return true;
    }
    // The ghost's own events come back; only the portal's user speaks for their People account.
    if (event.sender !== portal.matrixUser) return true;
    if (this.o.permissions.levelOf(event.sender) === "none") return true;
    const parsed = parseCallEvent(event.type, event.content);
    if (!parsed.ok) {
      this.o.ctx.log.info({ room: event.roomId, why: parsed.why }, "a malformed call event, not bridged");
      return true;
    }
    const call = parsed.event;
    // An invite older than its lifetime (catch-up reading history) rings nowhere, as in Element.
    const age = event.originServerTs === undefined ? 0 : this.o.ctx.now() - event.originServerTs;
    if (call.kind === "invite" && age > call.lifetimeMs) return true;
    await this.o.ctx.lock.run(call.callId, () => this.apply(portal, call, event.eventId));
    return true;
  };

  private async apply(portal: Portal, e: MatrixCallEvent, eventId: string): Promise<void> {
    const ctx = this.o.ctx;
    const address = portal.peopleAddress as PeopleAddress;
    switch (e.kind) {
      case "invite":
        return this.invite(portal, e, eventId);
      case "answer":
        return this.answer(portal, e);
      case "candidates": {
        const leg = ctx.leg(e.callId);
        if (leg) leg.addLocalCandidates(e.candidates);
        else if (live(await ctx.store.byCallId(e.callId))) ctx.keepEarly(e.callId, e.candidates);
        return;
      }
      case "select_answer": {
        const leg = ctx.leg(e.callId);
        // Another answer than the People device's was chosen: the People call is over.
        if (leg && e.selected !== leg.peerDevice()) {
          ctx.markEndedByMatrix(e.callId);
          await leg.hangup();
        }
        return;
      }
      case "negotiate":
        if (ctx.leg(e.callId)) await ctx.tell(portal.roomId, address, NEGOTIATE_TEXT, eventId);
        return;
      case "hangup":
      case "reject": {
        const row = await ctx.store.byCallId(e.callId);
        if (!live(row)) return;
        const leg = ctx.leg(e.callId);
        if (leg) {
          ctx.markEndedByMatrix(e.callId);
          await leg.hangup(e.kind === "hangup" ? peopleReason(e.reason) : "normal");
          return;
        }
        // A People call ringing here, declined (or given up) by the Matrix user.
        if (row.direction === "to_matrix") {
          const busy = e.kind === "hangup" && e.reason === "user_busy";
          const account = await this.o.people.accountFor(portal.matrixUser);
          await account.calls?.reject(row.session, busy ? "busy" : "declined").catch((err: unknown) => {
            ctx.log.debug({ err, callId: e.callId }, "the People call had stopped ringing");
          });
        }
        await ctx.store.end(e.callId, ctx.now());
        return;
      }
    }
  }

  private async invite(
    portal: Portal,
    e: Extract<MatrixCallEvent, { kind: "invite" }>,
    eventId: string,
  ): Promise<void> {
    const ctx = this.o.ctx;
    await ctx.store.prune(ctx.now() - KEEP_ENDED_MS);
    if (await ctx.store.byCallId(e.callId)) return; // delivered again, or read again by catch-up
    const address = portal.peopleAddress as PeopleAddress;
    const row = {
      callId: e.callId,
      session: "",
      roomId: portal.roomId,
      matrixUser: portal.matrixUser,
      peopleAddress: address,
      direction: "to_people" as const,
      peopleDevice: undefined,
      createdAt: ctx.now(),
    };
    const account = await this.o.people.accountFor(portal.matrixUser);
    if (!account.calls) {
      await ctx.tell(portal.roomId, address, NO_CALLS_TEXT, eventId);
      return;
    }
    ctx.count("to_people", "started");
    let leg;
    try {
      leg = await account.calls.place(address, { media: e.media, sdp: e.sdp, ringMs: e.lifetimeMs });
    } catch (err) {
      ctx.count("to_people", "failed");
      ctx.log.info({ err, callId: e.callId, code: errorCode(err) }, "a call could not be placed");
      // Element's caller stops ringing on a reject; the notice says why.
      await ctx.send(row, "m.call.reject", { ...rejectContent(e.callId, "people"), reason: "unknown_error" });
      await ctx.tell(
        portal.roomId,
        address,
        `The call to ${address} could not be placed (${errorCode(err)}).`,
        eventId,
      );
      return;
    }
    const placed = { ...row, session: leg.session };
    await ctx.store.put(placed);
    ctx.attach(placed, leg);
  }

  /** The Matrix user takes a People call ringing in the portal. */
  private async answer(portal: Portal, e: Extract<MatrixCallEvent, { kind: "answer" }>): Promise<void> {
    const ctx = this.o.ctx;
    const row = await ctx.store.byCallId(e.callId);
    if (!live(row) || row.direction !== "to_matrix" || ctx.leg(e.callId)) return;
    const account = await this.o.people.accountFor(portal.matrixUser);
    try {
      const leg = await account.calls!.answer(row.session, e.sdp);
      ctx.attach(row, leg);
      ctx.count("to_matrix", "answered");
      await ctx.send(
        row,
        "m.call.select_answer",
        selectAnswerContent(row.callId, row.peopleDevice ?? "people", e.partyId ?? ""),
      );
    } catch (err) {
      ctx.count("to_matrix", "failed");
      ctx.log.info({ err, callId: e.callId }, "a People call could not be answered");
      await ctx.endInMatrix(row, true, { reason: "failed", remote: false });
      await ctx.store.end(row.callId, ctx.now());
    }
  }
}
