// Message send status (com.beeper.message_send_status, as mautrix bridges send
// it): what became of a Matrix event on its way to People, from the outcome of
// each recipient's copy in the People outbox. Pure: no IO, tested on its own.
//
// - SUCCESS: every recipient's server took its copy; told only to end a
//   PENDING (see worthTelling: the ghost's events count as its read receipts).
// - PENDING: some copy waits in the outbox (its server cannot be reached now);
//   the outbox keeps trying.
// - FAIL_PERMANENT: some copy was refused for good (no such account, no such
//   domain) or given up (the outbox's delivery time ran out). Told once, also
//   as a notice, and it stays: a later success of another copy does not hide it.
// - FAIL_RETRIABLE: the bridge gave up before the message reached the outbox
//   (the People network kept failing); sending it again may work.
import { ERROR_CODES, type ErrorCode } from "../../people/errors.js";
import { addressDomain, type PeopleAddress } from "../../people/protocol/address.js";

export const MESSAGE_STATUS_EVENT = "com.beeper.message_send_status";
/** The `network` of the status events: the bridge's protocol. */
export const STATUS_NETWORK = "people";

export type MessageStatus = "SUCCESS" | "PENDING" | "FAIL_RETRIABLE" | "FAIL_PERMANENT";

/** The reasons mautrix defines that this bridge has a use for. */
export type MessageStatusReason =
  "m.event_not_handled" | "com.beeper.unsupported_event" | "m.foreign_network_error" | "m.no_permission";

export interface SendStatus {
  status: MessageStatus;
  reason?: MessageStatusReason;
  /** For the user, when the status is not SUCCESS. */
  message?: string;
}

/** One recipient's copy in the outbox. */
export type CopyState =
  | { state: "queued" }
  | { state: "waiting"; code: string }
  | { state: "delivered" }
  | { state: "failed"; code: string };

export type Copies = Readonly<Record<string, CopyState>>;

export const FAILED_STATUSES: ReadonlySet<MessageStatus> = new Set(["FAIL_PERMANENT", "FAIL_RETRIABLE"]);

/** Why one recipient's copy was dropped, in words for the Matrix user (no final period). */
export function copyFailedText(address: string, code: string): string {
  const domain = domainOf(address);
  switch (code) {
    case "PEOPLE_EXPIRED":
      return (
        `The People server of ${domain} could not be reached before the message's delivery time ran out, ` +
        "so the bridge stopped trying"
      );
    case "PEOPLE_NO_SERVER":
      return `There is no People server for ${domain}: the domain does not exist`;
    case "PEOPLE_UNKNOWN_RECIPIENT":
      return `${address} has no People account`;
    default: {
      const text = code in ERROR_CODES ? ERROR_CODES[code as ErrorCode].text : "it was refused";
      return `The People server of ${domain} refused it: ${text.replace(/\.$/, "")}`;
    }
  }
}

function domainOf(address: string): string {
  try {
    return addressDomain(address as PeopleAddress);
  } catch {
    return address.slice(address.lastIndexOf("@") + 1);
  }
}

/** The status the copies amount to; undefined while no copy has an outcome worth telling. */
export function statusOfCopies(copies: Copies): SendStatus | undefined {
  const entries = Object.entries(copies);
  if (entries.length === 0) return undefined;
  const failed = entries.filter(([, c]) => c.state === "failed");
  if (failed.length > 0) {
    const why = failed.map(([a, c]) => copyFailedText(a, c.state === "failed" ? c.code : ""));
    const to = failed.map(([a]) => a).join(", ");
    return {
      status: "FAIL_PERMANENT",
      reason: "m.foreign_network_error",
      message: `Not delivered to ${to}: ${[...new Set(why)].join("; ")}.`,
    };
  }
  if (entries.every(([, c]) => c.state === "delivered")) return { status: "SUCCESS" };
  const waiting = entries.filter(([, c]) => c.state === "waiting").map(([a]) => domainOf(a));
  if (waiting.length === 0) return undefined;
  const domains = [...new Set(waiting)].join(", ");
  return {
    status: "PENDING",
    reason: "m.foreign_network_error",
    message:
      `Waiting for the People server of ${domains}, which cannot be reached now; ` +
      "the bridge keeps trying and will deliver it when it is back.",
  };
}

/**
 * Whether `next` is worth an event after `said` (the last status sent): a
 * change, except that a failure is final, PENDING is told once, and SUCCESS
 * only ends a PENDING. The events come from the room's ghost, and any event
 * of a sender marks everything before it read by them: a SUCCESS after every
 * message would show the People contact as having read it the moment their
 * server took it. So a message taken at the first try gets no event.
 */
export function worthTelling(said: MessageStatus | null | undefined, next: SendStatus): boolean {
  if (said !== null && said !== undefined && FAILED_STATUSES.has(said)) return false;
  if (next.status === "SUCCESS") return said === "PENDING";
  return said !== next.status;
}

/** The event content, as mautrix's BeeperMessageStatusEventContent has it. */
export function statusEventContent(eventId: string, s: SendStatus): Record<string, unknown> {
  return {
    network: STATUS_NETWORK,
    "m.relates_to": { rel_type: "m.reference", event_id: eventId },
    status: s.status,
    ...(s.reason !== undefined ? { reason: s.reason } : {}),
    ...(s.message !== undefined ? { message: s.message } : {}),
  };
}

/** A copy's new state from an outbox report; a final state is kept. */
export function nextCopyState(
  current: CopyState | undefined,
  report: { kind: "delivered" | "deferred" | "undeliverable"; code?: string },
): CopyState {
  if (current?.state === "delivered" || current?.state === "failed") return current;
  if (report.kind === "delivered") return { state: "delivered" };
  if (report.kind === "undeliverable") return { state: "failed", code: report.code ?? "PEOPLE_INTERNAL" };
  return { state: "waiting", code: report.code ?? "PEOPLE_UNAVAILABLE" };
}
