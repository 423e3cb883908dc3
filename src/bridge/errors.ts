// The bridge's two kinds of failure that are not bugs:
// - UserError: the Matrix user asked for something that cannot be done; its
//   `userText` is shown in the room, the message and cause go to the log only.
// - RetryLater: a Matrix event could not be handled for now (the People network,
//   the media's server, the database): the appservice keeps it in the bridge's
//   retry queue and tries it again alone (appservice/event-retry-queue.ts), or,
//   without a queue, fails the transaction so the homeserver sends it again.
//   Handlers throw it only for a bounded time (RetryWindow).

export class UserError extends Error {
  constructor(
    readonly userText: string,
    logDetail?: string,
    options?: { cause?: unknown },
  ) {
    super(logDetail ?? userText, options);
    this.name = "UserError";
  }
}

export class RetryLater extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RetryLater";
  }
}

export function isRetryLater(err: unknown): err is RetryLater {
  return err instanceof RetryLater;
}
