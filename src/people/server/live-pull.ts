// Live push for a domain served by several processes: the process that
// stored an envelope may not be the one holding the device's socket, so a
// push is only a hint (from this process's ingest, or from another's
// NOTIFY, cluster-notify.ts) and each socket reads its device's mailbox past
// the last seq it was sent. Seqs commit in increasing order (an advisory
// lock in the mailbox store), so a read that sees seq N sees every smaller
// one too: nothing is skipped, and nothing is sent twice on one socket.
import type { MailboxStore } from "../../store/types.js";
import { isOpen, State, type Conn, type ConnIndex } from "./live-conn.js";
import { CATCH_UP_PAGE, envelopeFrame } from "./live-frames.js";
import type { LiveOutput } from "./live-output.js";

export class LivePuller {
  constructor(
    private readonly o: {
      conns: ConnIndex;
      all: ReadonlySet<Conn>;
      mailbox: Pick<MailboxStore, "pending">;
      out: LiveOutput;
    },
  ) {}

  /** New mail may be waiting for these devices of `address`. */
  hint(address: string, devices: readonly string[]): void {
    for (const device of devices) for (const c of this.o.conns.of(address, device)) this.poke(c);
  }

  /** Hints may have been lost (the notification connection was down): every socket reads again. */
  hintAll(): void {
    for (const c of this.o.all) if (c.state >= State.CatchingUp) this.poke(c);
  }

  private poke(c: Conn): void {
    if (c.buffer !== null) {
      // Still catching up: catch-up reads the mailbox again before it goes live.
      c.overflowed = true;
      c.buffer = [];
      return;
    }
    if (c.pulling) {
      c.repull = true;
      return;
    }
    c.pulling = true;
    this.pull(c)
      .catch((err: unknown) => this.o.out.fail(c, err, "live pull failed"))
      .finally(() => {
        c.pulling = false;
      });
  }

  private async pull(c: Conn): Promise<void> {
    do {
      c.repull = false;
      for (;;) {
        const page = await this.o.mailbox.pending(c.address, c.device, c.sentSeq, CATCH_UP_PAGE);
        if (!isOpen(c)) return;
        for (const e of page) {
          if (e.seq <= c.sentSeq) continue;
          c.sentSeq = e.seq;
          this.o.out.pushEnvelope(c, envelopeFrame(e));
        }
        if (page.length < CATCH_UP_PAGE) break;
      }
    } while (c.repull && isOpen(c));
  }
}
