// Asks again for a media key that did not come. Element Call shares its key only when it sees a
// new member (matrix-js-sdk RTCEncryptionManager), once, over to-device; Synapse can lose a
// to-device message on its way to an appservice (two sent across each other: the handler records
// the later stream position first and skips the earlier message), and then the ghost would never
// decrypt the Matrix user's media. A ghost that has no key some seconds after both are in the
// call announces its membership again: to Element Call that is a new joiner, so it shares (or
// rotates) its key.

export interface KeyWatchOptions {
  /** Waits before each ask, in order; after the last the watch gives up. */
  delaysMs: readonly number[];
  /** Asks for the key (the attempt counts from 1); a failure is the asker's to log. */
  ask(attempt: number): Promise<void>;
}

export class KeyWatch {
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;
  private done = false;

  constructor(private readonly o: KeyWatchOptions) {}

  /** Starts waiting for a key (again, if asked before and a key never came); no-op while waiting. */
  start(): void {
    if (this.done || this.timer) return;
    this.schedule();
  }

  /** A key came: no more asking. */
  satisfied(): void {
    this.stop();
  }

  /** The call ended. */
  stop(): void {
    this.done = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    const delay = this.o.delaysMs[this.attempt];
    if (delay === undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.done) return;
      this.attempt++;
      void this.o.ask(this.attempt).finally(() => {
        if (!this.done) this.schedule();
      });
    }, delay);
    this.timer.unref();
  }
}
