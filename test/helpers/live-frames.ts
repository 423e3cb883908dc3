// A People device's live socket in a test: it records every frame, and
// `until` waits on frames (or the close), never on the clock.
import type WebSocket from "ws";

export interface LiveFrame {
  type: string;
  id?: string;
  from?: { address: string; device: string };
  session?: string;
  data?: string;
  errcode?: string;
}

export class LiveFrames {
  readonly frames: LiveFrame[] = [];
  closed = false;
  private waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer) => {
      this.frames.push(JSON.parse(data.toString()) as LiveFrame);
      this.wake();
    });
    ws.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when `done()` holds, checked at every frame and at the close (the test's timeout bounds it). */
  async until(done: () => boolean): Promise<void> {
    while (!done()) await new Promise<void>((r) => this.waiters.push(r));
  }

  of(type: string): LiveFrame[] {
    return this.frames.filter((f) => f.type === type);
  }
}
