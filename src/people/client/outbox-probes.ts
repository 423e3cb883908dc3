// Which servers the outbox cannot reach, and when to try each again while this
// device is online. A copy's own backoff (persisted with it) can grow to an hour,
// which is right for a device that is itself offline; but while the device's live
// connection is open, its network works, and a server that was down may be back
// at any moment. So, while online, each unreachable server is tried again at least
// every `onlineMaxMs` (jittered), with one copy as the probe (not every copy), and
// the first copy that gets through releases all the others waiting for that server.
// The device (re)connecting is a probe time for every server with mail waiting.

interface Down {
  failures: number;
  probeAt: number;
}

export class ServerProbes {
  private online = false;
  private probeAll = false;
  private readonly down = new Map<string, Down>();

  constructor(
    private readonly o: {
      /** First probe delay; doubles per failed probe up to onlineMaxMs. */
      baseMs: number;
      onlineMaxMs: number;
      random?: () => number;
    },
  ) {}

  /** The live connection opened (or closed). Returns true when every server should be probed now. */
  setOnline(online: boolean): boolean {
    this.online = online;
    if (online) this.probeAll = true;
    return online;
  }

  /** Called once at the start of a pass: the servers already probed in it, and whether all may be. */
  beginPass(): { probing: Set<string>; all: boolean } {
    const all = this.probeAll;
    this.probeAll = false;
    return { probing: new Set(), all };
  }

  /** May a copy to `domain` that is not due by its own backoff go now as this pass's probe of that server? */
  claim(domain: string, now: number, pass: { probing: Set<string>; all: boolean }): boolean {
    if (!this.online || pass.probing.has(domain)) return false;
    const down = this.down.get(domain);
    if (!pass.all && (down === undefined || down.probeAt > now)) return false;
    pass.probing.add(domain);
    return true;
  }

  /** When the next probe of `domain` is due (Infinity when offline or the server is not known down). */
  nextProbe(domain: string): number {
    if (!this.online) return Infinity;
    return this.down.get(domain)?.probeAt ?? Infinity;
  }

  /** A copy to `domain` failed because the server could not be reached (or answered 5xx). */
  failed(domain: string, now: number): void {
    const down = this.down.get(domain) ?? { failures: 0, probeAt: 0 };
    this.down.set(domain, down);
    // Several copies failing in one pass count once: only a failure at or after the probe time reschedules.
    if (down.probeAt > now) return;
    const delay = Math.min(this.o.onlineMaxMs, this.o.baseMs * 2 ** Math.min(down.failures, 30));
    down.failures += 1;
    down.probeAt = now + Math.ceil(delay / 2 + (this.o.random ?? Math.random)() * (delay / 2));
  }

  /** `domain` answered. True when it had been down: its other waiting copies should go now. */
  answered(domain: string): boolean {
    return this.down.delete(domain);
  }
}
