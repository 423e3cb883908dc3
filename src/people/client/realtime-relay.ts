// The relay transport of realtime sessions: sealed frames through this
// device's live WebSocket to its server (PROTOCOL §17.4). A ping after each
// burst tells which frames the server took: a pong confirms the frames relayed
// before its ping; a closed socket or a refused frame sends what was not
// confirmed by envelope instead (RtSession.failover).
import { b64u } from "../protocol/bytes.js";
import type { RtSession } from "./realtime-session.js";
import type { LiveLink } from "./realtime-types.js";

export class RelayPath {
  /** Pings sent and pongs received on the current live socket; a pong confirms the frames relayed before its ping. */
  private pingsSent = 0;
  private pongs = 0;
  private pingScheduled = false;

  constructor(
    private readonly live: LiveLink,
    private readonly sessions: () => Iterable<RtSession>,
  ) {}

  /** Relay one frame to the session's peer device; false when the live socket cannot take it. */
  send(s: RtSession, frame: Buffer): boolean {
    if (!s.peer.device) return false;
    const sent = this.live.send({
      type: "relay",
      to: { address: s.peer.address, device: s.peer.device },
      session: s.id,
      data: b64u(frame),
    });
    if (!sent) return false;
    s.unconfirmed.push({ frame, gen: this.pingsSent });
    if (!this.pingScheduled) {
      this.pingScheduled = true;
      setImmediate(() => {
        this.pingScheduled = false;
        if (this.live.send({ type: "ping" })) this.pingsSent++;
        else this.liveChanged(false);
      });
    }
    return true;
  }

  pong(): void {
    this.pongs++;
    for (const s of this.sessions()) {
      if (s.unconfirmed.length > 0) s.unconfirmed = s.unconfirmed.filter((u) => u.gen >= this.pongs);
    }
  }

  liveChanged(ready: boolean): void {
    if (ready) return;
    // Pongs of a closed socket never come: what it did not confirm goes by envelope.
    this.pongs = this.pingsSent;
    for (const s of this.sessions()) if (s.unconfirmed.length > 0) s.failover();
  }
}
