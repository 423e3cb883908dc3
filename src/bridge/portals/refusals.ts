// What the bridge will not make for a People message: a conversation (too
// many addresses), or a room past a sender's creation limit. The People →
// Matrix flow logs it, counts it `refused` and acknowledges the message.

/** A conversation the bridge will not make (or grow) a room for; the message is let go. */
export class GroupRefused extends Error {}

/** A room a People sender may not make now: past bridge.limits.rooms_per_sender_per_hour. */
export class LimitReached extends GroupRefused {}
