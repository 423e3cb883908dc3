// Double puppeting, as the portals see it: a Matrix user's own account, which
// the bridge may act as (mautrix's "double puppet"), so what the user sent from
// their other People devices shows in the portal sent by the user, not by a
// ghost. Only the adapter (puppets/) knows how the bridge got the right to.
import type { MatrixEventId, MatrixUserId } from "../../model/matrix-ids.js";

/**
 * Set in the content of every event the bridge sends as a user (mautrix's
 * `fi.mau.double_puppet_source`): the bridge sees its own sends come back from
 * the homeserver and must not send them to People again.
 */
export const DOUBLE_PUPPET_SOURCE = "org.people.double_puppet_source";

/** One user's Matrix account, acted as by the bridge. */
export interface PuppetSender {
  readonly userId: MatrixUserId;
  /** Sends as the user; the transaction id is derived from `txnKey`, so a repeat makes no second event. */
  sendEvent(
    roomId: string,
    type: string,
    content: Record<string, unknown>,
    txnKey: string,
  ): Promise<MatrixEventId>;
  redact(roomId: string, eventId: string, reason: string | undefined, txnKey: string): Promise<MatrixEventId>;
}

export interface DoublePuppets {
  /** Whether the user's homeserver is set up for it (said by `accounts`). */
  covers?(user: MatrixUserId): boolean;
  /**
   * The user's double puppet for sending in `roomId`, logged in on first use; undefined when
   * their homeserver has no secret configured, or the room is encrypted (the puppet has no
   * Matrix crypto: the ghost, which the bridge encrypts for, speaks there instead).
   */
  senderFor(user: MatrixUserId, roomId: string): Promise<PuppetSender | undefined>;
}

/** True for an event the bridge itself sent as a user (never bridged back to People). */
export function isDoublePuppeted(content: Readonly<Record<string, unknown>>): boolean {
  return content[DOUBLE_PUPPET_SOURCE] !== undefined;
}
