// Tells the Matrix user what became of each message they sent to People, as
// mautrix bridges do: a com.beeper.message_send_status event relating to it
// (model/send-status.ts) from the room's ghost, and one m.notice in reply when
// it fails for good. The outcomes come from the People outbox, copy by copy
// (delivered, waiting for a server that is down, dropped), and from the
// Matrix → People flow (refused or given up before the outbox).
//
// Nothing is written for a message whose copies are all taken at the first
// try (the common case costs no database write); once a copy waits or fails,
// the message's state is kept in send_status, so the rest of the story is
// told after a restart too. A report that arrives before the flow has
// recorded the message (the outbox can be that quick) is held a while in
// memory and applied when it does.
import type { PeopleAddress } from "../../people/protocol/address.js";
import { KeyedLock } from "../../shared/keyed-lock.js";
import type { Logger } from "../core/ports/logger.js";
import type { GhostSide } from "../core/ports/matrix-side.js";
import type { OutboxReport } from "../core/ports/people-side.js";
import {
  FAILED_STATUSES,
  MESSAGE_STATUS_EVENT,
  nextCopyState,
  statusEventContent,
  statusOfCopies,
  worthTelling,
  type CopyState,
  type MessageStatusReason,
  type SendStatus,
} from "../model/send-status.js";
import { notice, noticeReplyContent } from "../core/notice.js";
import type { SendStatusRecord, SendStatusStore } from "../core/ports/store.js";

/** A Matrix event the flow sent: durably queued in the People outbox as `messageId`. */
export interface SentMessage {
  eventId: string;
  roomId: string;
  sender: PeopleAddress;
  messageId: string;
  to: readonly PeopleAddress[];
  noticeGhost: PeopleAddress;
  label: string;
}

/** Where the flow reports (MatrixToPeopleOptions.status). */
export interface SendStatusHooks {
  sent(m: SentMessage): void;
  /** Refused or given up before the outbox; the flow sends the notice itself. */
  failed(where: StatusTarget, status: SendStatus): Promise<void>;
  /** The flow keeps the event to try again (the People network failed for now). */
  retrying(where: StatusTarget, text: string): Promise<void>;
}

export interface StatusTarget {
  eventId: string;
  roomId: string;
  noticeGhost: PeopleAddress;
}

export interface SendStatusOptions {
  ghosts: Pick<GhostSide, "ghostId" | "sendEvent">;
  store: SendStatusStore;
  /** Send com.beeper.message_send_status events (bridge.message_status_events); notices go regardless. */
  statusEvents: boolean;
  log: Logger;
  now?: () => number;
  /** How long a report for a message not recorded yet is held (default 10 minutes). */
  earlyMs?: number;
  /** Delay before telling again after the homeserver refused (default 5 s); 5 tries. */
  retellMs?: number;
  /** A message sent before a restart with nothing kept of it yet (send-status-recovery.ts). */
  recover?: (sender: string, messageId: string) => Promise<SentMessage | undefined>;
}

export function statusTarget(
  eventId: string,
  portal: { roomId: string; noticeGhost: PeopleAddress },
): StatusTarget {
  return { eventId, roomId: portal.roomId, noticeGhost: portal.noticeGhost };
}

/** A failure's status reason: content People cannot carry, or People's answer (gave_up, PEOPLE_…, refused). */
export function failureReason(reason: string): MessageStatusReason {
  return reason === "gave_up" || reason === "refused" || reason.startsWith("PEOPLE_")
    ? "m.foreign_network_error"
    : "com.beeper.unsupported_event";
}

const MAX_EARLY = 10_000;
const MAX_RETELLS = 5;

interface Tracked {
  record: SendStatusRecord;
  persisted: boolean;
}

const keyOf = (sender: string, messageId: string): string => `${sender}\n${messageId}`;
const isFinal = (c: CopyState): boolean => c.state === "delivered" || c.state === "failed";

export class SendStatusReporter implements SendStatusHooks {
  private readonly live = new Map<string, Tracked>();
  private readonly early = new Map<string, { reports: OutboxReport[]; at: number }>();
  private readonly told = new Set<string>();
  private readonly lock = new KeyedLock();
  private readonly now: () => number;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly o: SendStatusOptions) {
    this.now = o.now ?? Date.now;
  }

  sent(m: SentMessage): void {
    const record = this.recordOf(m);
    if (Object.keys(record.copies).length === 0) return;
    const key = keyOf(m.sender, m.messageId);
    // The flow told PENDING while it retried the event: the outcome ends it.
    if (this.told.has(m.eventId)) record.said = "PENDING";
    void this.lock
      .run(key, async () => {
        // Sent again after a restart (a redelivered event): what is kept of it wins.
        if (!this.live.has(key)) this.live.set(key, { record, persisted: false });
        const held = this.early.get(key);
        this.early.delete(key);
        for (const r of held?.reports ?? []) await this.apply(r);
      })
      .catch((err: unknown) => this.o.log.warn({ err, eventId: m.eventId }, "send status not told"));
  }

  /** A report of the outbox; serialized per message, never throws. */
  report(r: OutboxReport): Promise<void> {
    return this.lock
      .run(keyOf(r.sender, r.messageId), () => this.apply(r))
      .catch((err: unknown) =>
        this.o.log.warn({ err, message: r.messageId, kind: r.kind }, "send status not told"),
      );
  }

  async failed(where: StatusTarget, status: SendStatus): Promise<void> {
    await this.statusEvent(where, status);
  }

  async retrying(where: StatusTarget, text: string): Promise<void> {
    // Told once per event however often it is tried again.
    if (this.told.has(where.eventId)) return;
    this.remember(where.eventId);
    await this.statusEvent(where, { status: "PENDING", reason: "m.foreign_network_error", message: text });
  }

  /** Messages whose story is not over (tests: nothing is kept past it). */
  get tracking(): number {
    return this.live.size;
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private recordOf(m: SentMessage): SendStatusRecord {
    const copies = Object.fromEntries(
      m.to.filter((a) => a !== m.sender).map((a): [string, CopyState] => [a, { state: "queued" }]),
    );
    return {
      matrixEventId: m.eventId,
      roomId: m.roomId,
      peopleSender: m.sender,
      peopleMessageId: m.messageId,
      noticeGhost: m.noticeGhost,
      label: m.label,
      copies,
      said: null,
      updatedAt: this.now(),
    };
  }

  private remember(eventId: string): void {
    if (this.told.size >= MAX_EARLY) this.told.delete(this.told.values().next().value!);
    this.told.add(eventId);
  }

  private async apply(r: OutboxReport): Promise<void> {
    const key = keyOf(r.sender, r.messageId);
    let tracked = this.live.get(key);
    if (!tracked) {
      const kept = await this.o.store.byMessage(r.sender, r.messageId);
      const sent = kept ? undefined : await this.o.recover?.(r.sender, r.messageId);
      if (!kept && !sent) return this.hold(key, r);
      tracked = kept ? { record: kept, persisted: true } : { record: this.recordOf(sent!), persisted: false };
      this.live.set(key, tracked);
    }
    const record = tracked.record;
    const current = record.copies[r.address];
    // The sender's own copy (its other devices) and strangers are no recipients.
    if (current === undefined) return;
    const next = nextCopyState(current, r);
    if (JSON.stringify(next) === JSON.stringify(current)) return;
    record.copies = { ...record.copies, [r.address]: next };
    record.updatedAt = this.now();
    const status = statusOfCopies(record.copies);
    if (status && worthTelling(record.said, status)) {
      if (await this.tell(record, status)) record.said = status.status;
      else this.retell(key);
    }
    await this.keep(key, tracked);
  }

  /** Writes the state while something is left to tell; forgets it once everything is told. */
  private async keep(key: string, tracked: Tracked): Promise<void> {
    const { record } = tracked;
    // Done when failed (final), or every copy has its outcome and nothing is left to tell.
    const status = statusOfCopies(record.copies);
    const untold = status !== undefined && worthTelling(record.said, status);
    const done =
      (record.said !== null && FAILED_STATUSES.has(record.said)) ||
      (Object.values(record.copies).every(isFinal) && !untold);
    if (done) {
      this.live.delete(key);
      if (tracked.persisted) await this.o.store.remove(record.matrixEventId);
      return;
    }
    // Nothing worth a write yet (the happy path): no copy waits, and nothing is left to tell.
    const waiting = Object.values(record.copies).some((c) => c.state === "waiting");
    if (record.said === null && !untold && !waiting) return;
    await this.o.store.put(record);
    tracked.persisted = true;
  }

  /** The status event and, for a failure, the notice. False when the homeserver did not take them. */
  private async tell(record: SendStatusRecord, status: SendStatus): Promise<boolean> {
    const where = {
      eventId: record.matrixEventId,
      roomId: record.roomId,
      noticeGhost: record.noticeGhost as PeopleAddress,
    };
    try {
      if (FAILED_STATUSES.has(status.status) && status.message !== undefined) {
        const content = noticeReplyContent(notice(status.message), record.matrixEventId);
        await this.o.ghosts.sendEvent(
          this.o.ghosts.ghostId(where.noticeGhost),
          record.roomId,
          "m.room.message",
          content,
          `undelivered.${record.matrixEventId}`,
        );
      }
      await this.statusEvent(where, status, true);
      return true;
    } catch (err) {
      this.o.log.warn({ err, eventId: record.matrixEventId, status: status.status }, "send status not told");
      return false;
    }
  }

  private async statusEvent(where: StatusTarget, status: SendStatus, rethrow = false): Promise<void> {
    if (!this.o.statusEvents) return;
    try {
      await this.o.ghosts.sendEvent(
        this.o.ghosts.ghostId(where.noticeGhost),
        where.roomId,
        MESSAGE_STATUS_EVENT,
        statusEventContent(where.eventId, status),
        `status.${where.eventId}.${status.status}`,
      );
    } catch (err) {
      if (rethrow) throw err;
      this.o.log.warn({ err, eventId: where.eventId, status: status.status }, "send status not told");
    }
  }

  /** The homeserver did not take the status: told again a little later (the state is kept meanwhile). */
  private retell(key: string, attempt = 1): void {
    if (attempt > MAX_RETELLS) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.lock
        .run(key, async () => {
          const tracked = this.live.get(key);
          const status = tracked && statusOfCopies(tracked.record.copies);
          if (!tracked || !status || !worthTelling(tracked.record.said, status)) return;
          if (!(await this.tell(tracked.record, status))) return this.retell(key, attempt + 1);
          tracked.record.said = status.status;
          await this.keep(key, tracked);
        })
        .catch((err: unknown) => this.o.log.warn({ err }, "send status not told"));
    }, this.o.retellMs ?? 5000);
    timer.unref();
    this.timers.add(timer);
  }

  /** A report for a message the flow has not recorded yet (or not one of a Matrix event: kept until it expires). */
  private hold(key: string, r: OutboxReport): void {
    const now = this.now();
    const maxAge = this.o.earlyMs ?? 10 * 60_000;
    for (const [k, v] of this.early) {
      if (now - v.at < maxAge && this.early.size < MAX_EARLY) break;
      this.early.delete(k);
    }
    const held = this.early.get(key) ?? { reports: [], at: now };
    held.reports.push(r);
    this.early.set(key, held);
  }
}
