// Catch-up: after `ready`, a socket is sent every envelope still pending for
// its device, oldest first, then `caught_up`; live pushes that arrive
// meanwhile are held (or, past a bound, re-read from the mailbox) so each
// envelope is sent once per connection, in ascending seq.
import type { MailboxStore, StoredEnvelope } from "../../store/types.js";
import { isOpen, State, type Conn } from "./live-conn.js";
import { CATCH_UP_PAGE, envelopeFrame } from "./live-frames.js";
import type { LiveOutput } from "./live-output.js";

/** During catch-up, wait for the socket to drain above this much queued output. */
const CATCH_UP_HIGH_WATER = 1024 * 1024;
/** Live pushes kept for a socket while it catches up; beyond this, catch-up re-reads the mailbox instead. */
const MAX_CATCH_UP_BUFFER = 256;

/** A push for a socket still catching up is held; false when the socket is live and the push goes out now. */
export function holdDuringCatchUp(c: Conn, envelope: StoredEnvelope): boolean {
  if (c.buffer === null) return false;
  // Catching up: the envelope is durable, so if the buffer is full the
  // next mailbox read finds it instead.
  if (c.overflowed) return true;
  if (c.buffer.length >= MAX_CATCH_UP_BUFFER) {
    c.overflowed = true;
    c.buffer = [];
  } else c.buffer.push(envelope);
  return true;
}

export async function catchUp(
  c: Conn,
  mailbox: Pick<MailboxStore, "pending">,
  out: LiveOutput,
): Promise<void> {
  let after = 0;
  for (;;) {
    const page = await mailbox.pending(c.address, c.device, after, CATCH_UP_PAGE);
    if (!isOpen(c)) return;
    for (const e of page) {
      after = e.seq;
      const frame = envelopeFrame(e);
      if (c.ws.bufferedAmount < CATCH_UP_HIGH_WATER) out.pushEnvelope(c, frame);
      else {
        // A large mailbox: wait for this frame to reach the socket instead of queueing it all.
        await out.pushEnvelopeDrained(c, frame);
        if (!isOpen(c)) return;
      }
    }
    if (page.length === CATCH_UP_PAGE) continue;
    if (!c.overflowed) break;
    // Pushes were dropped while catching up: they are in the mailbox, read it again.
    c.overflowed = false;
    c.buffer = [];
  }
  // Pushes that came in during catch-up; the ones the mailbox reads already returned have seq <= after.
  const buffered = c.buffer ?? [];
  c.buffer = null;
  c.state = State.Live;
  buffered.sort((a, b) => a.seq - b.seq);
  for (const e of buffered) {
    if (e.seq <= after) continue;
    after = e.seq;
    out.pushEnvelope(c, envelopeFrame(e));
  }
  c.sentSeq = after;
  out.send(c, JSON.stringify({ type: "caught_up", seq: after }));
}
