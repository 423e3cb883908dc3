// What the two directions of bridged calls share: the legs running now, a
// lock per call (a call's signals are handled and sent in order), the store
// row of each call, and the wiring of a People call leg to its ghost's
// Matrix events (answer, candidates, hangup or reject).
import type { PeopleAddress } from "../../people/protocol/address.js";
import { sdpCarriesVideo } from "../../people/protocol/sdp-media.js";
import { KeyedLock } from "../../shared/keyed-lock.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { BridgeMetrics } from "../core/ports/metrics.js";
import { notice, noticeContent, noticeReplyContent } from "../core/notice.js";
import type { CallCandidate, CallLeg, CallLegEvents } from "../core/ports/people-side.js";
import type { BridgedCall, BridgedCallStore } from "../core/ports/store.js";
import {
  answerContent,
  candidatesContent,
  hangupContent,
  matrixReason,
  rejectContent,
} from "./matrix-call-content.js";

export type CallDirection = BridgedCall["direction"];

/**
 * An ended call's row is kept this long: longer than any invite rings (MAX_LIFETIME_MS), so
 * catch-up reading a call's events again after a restart finds it ended and calls nobody.
 */
export const KEEP_ENDED_MS = 10 * 60_000;

/** A recorded call that has not ended. */
export const live = (row: BridgedCall | undefined): row is BridgedCall =>
  row !== undefined && row.endedAt === undefined;

export interface CallContextOptions {
  ghosts: GhostSide;
  store: BridgedCallStore;
  metrics: BridgeMetrics;
  log: Logger;
  now?: () => number;
}

export class CallContext {
  readonly lock = new KeyedLock();
  readonly now: () => number;
  /** call id → the People leg the bridge drives for it. */
  private readonly legs = new Map<string, CallLeg>();
  /** Calls the Matrix side ended: their People end is not told back. */
  private readonly endedByMatrix = new Set<string>();
  /** Candidates from the Matrix client that came before its call had a leg. */
  private readonly early = new Map<string, CallCandidate[]>();
  private seq = 0;

  constructor(readonly o: CallContextOptions) {
    this.now = o.now ?? Date.now;
  }

  get store(): BridgedCallStore {
    return this.o.store;
  }

  get log(): Logger {
    return this.o.log;
  }

  leg(callId: string): CallLeg | undefined {
    return this.legs.get(callId);
  }

  count(direction: CallDirection, outcome: "started" | "answered" | "failed"): void {
    this.o.metrics.calls.inc({ direction, outcome });
  }

  /** Candidates of a call with no leg yet (kept, a bounded number, for when it has one). */
  keepEarly(callId: string, candidates: readonly CallCandidate[]): void {
    const list = this.early.get(callId) ?? [];
    if (list.length + candidates.length <= 256) list.push(...candidates);
    this.early.set(callId, list);
    if (this.early.size > 1_000) this.early.delete(this.early.keys().next().value!);
  }

  /** The Matrix side ended this call: the leg is hung up and the end not told back. */
  markEndedByMatrix(callId: string): void {
    this.endedByMatrix.add(callId);
  }

  /** A ghost event of a call; the transaction id makes a repeat after a crash the same event. */
  async send(row: BridgedCall, type: string, content: Record<string, unknown>): Promise<void> {
    const ghost = this.o.ghosts.ghostId(row.peopleAddress as PeopleAddress);
    await this.o.ghosts.sendEvent(
      ghost,
      row.roomId,
      type,
      content,
      `call.${row.callId}.${type}.${++this.seq}`,
    );
  }

  /** A notice from the portal's ghost, in reply to the user's event when there is one. */
  async tell(roomId: string, address: PeopleAddress, text: string, replyTo?: string): Promise<void> {
    const ghost = this.o.ghosts.ghostId(address);
    const content = replyTo ? noticeReplyContent(notice(text), replyTo) : noticeContent(notice(text));
    await this.o.ghosts.sendEvent(
      ghost,
      roomId,
      "m.room.message",
      content,
      `call.notice.${replyTo ?? ++this.seq}`,
    );
  }

  /** Drives `leg` for `row`: the People device's answer, candidates and end become the ghost's events. */
  attach(row: BridgedCall, leg: CallLeg): void {
    this.legs.set(row.callId, leg);
    const early = this.early.get(row.callId);
    this.early.delete(row.callId);
    if (early?.length) leg.addLocalCandidates(early);
    let answered = row.direction === "to_matrix";
    const inOrder = (what: string, fn: () => Promise<void>) =>
      void this.lock.run(row.callId, fn).catch((err: unknown) => {
        this.o.log.warn({ err, callId: row.callId, what }, "a call event could not be sent to Matrix");
      });
    const party = () => leg.peerDevice() ?? row.peopleDevice ?? "people";
    // Media runs between Element and the People device, out of the bridge's sight: the bridge's
    // signalling-only leg counts as connected once answered, or its connect timeout ends it.
    if (answered) leg.connected?.();
    leg.on("remoteSdp", (sdp) => {
      leg.connected?.();
      inOrder("answer", async () => {
        answered = true;
        const device = party();
        row.peopleDevice = device;
        await this.o.store.setPeopleDevice(row.callId, device);
        await this.send(row, "m.call.answer", answerContent(row.callId, device, sdp));
        this.count(row.direction, "answered");
        // The People device took the video call audio only (§11.3.1): Element would show a black picture.
        if (leg.media === "video" && !sdpCarriesVideo(sdp))
          await this.tell(row.roomId, row.peopleAddress as PeopleAddress, audioOnlyText(row.peopleAddress));
      });
    });
    leg.on("remoteCandidates", (candidates) =>
      inOrder("candidates", async () => {
        for (const batch of matrixBatches(candidates))
          await this.send(row, "m.call.candidates", candidatesContent(row.callId, party(), batch));
      }),
    );
    leg.on("ended", (e) =>
      inOrder("end", async () => {
        this.legs.delete(row.callId);
        const byMatrix = this.endedByMatrix.delete(row.callId);
        if (e.reason === "failed") this.count(row.direction, "failed");
        if (!byMatrix) await this.endInMatrix(row, answered, e);
        await this.o.store.end(row.callId, this.now());
      }),
    );
  }

  /** The People side ended the call: a reject before an answer (what Element's caller listens to), else a hangup. */
  async endInMatrix(row: BridgedCall, answered: boolean, e: CallLegEvents["ended"]): Promise<void> {
    const party = row.peopleDevice ?? "people";
    if (!answered) {
      await this.send(row, "m.call.reject", {
        ...rejectContent(row.callId, party),
        reason: matrixReason(e.reason),
      });
      return;
    }
    await this.send(row, "m.call.hangup", hangupContent(row.callId, party, matrixReason(e.reason)));
  }
}

export const audioOnlyText = (address: string): string =>
  `${address} answered audio only: their device takes no video, so this call has no picture.`;

/** Candidates in events of at most 64; an end of candidates ("") goes last. */
export function matrixBatches(candidates: readonly CallCandidate[]): CallCandidate[][] {
  const list = candidates.filter((c) => c.candidate !== "");
  const batches: CallCandidate[][] = [];
  for (let i = 0; i < list.length; i += 64) batches.push(list.slice(i, i + 64));
  if (list.length < candidates.length) {
    const last = batches.at(-1);
    if (last && last.length < 64) last.push({ candidate: "" });
    else batches.push([{ candidate: "" }]);
  }
  return batches;
}
