// What the live hub writes to a socket, and its flow control: a client that
// stops reading is cut off (the mailbox keeps everything it did not
// acknowledge), a socket that fails is closed with 1011, and what is logged
// never holds a token or frame data.
import { WebSocket } from "ws";
import { isPeopleError } from "../errors.js";
import type { Logger } from "./logger.js";
import type { ServerMetrics } from "./metrics.js";
import { isOpen, type Conn } from "./live-conn.js";

/** Output a socket may have queued before it is terminated as not reading. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** What may be logged of an error: never a token (none is ever in one) nor frame data. */
export function logErr(err: unknown): { errcode?: string; err?: unknown } {
  return isPeopleError(err) ? { errcode: err.code } : { err };
}

export class LiveOutput {
  constructor(
    private readonly metrics: ServerMetrics,
    private readonly log: Logger,
  ) {}

  pushEnvelope(c: Conn, frame: Buffer): void {
    if (!isOpen(c)) return;
    c.ws.send(frame, { binary: false });
    this.metrics.livePushes.inc();
    this.checkBackpressure(c);
  }

  /** Push one envelope and wait until it reached the socket (a large mailbox is not queued all at once). */
  async pushEnvelopeDrained(c: Conn, frame: Buffer): Promise<void> {
    await new Promise<void>((resolve) => c.ws.send(frame, { binary: false }, () => resolve()));
    this.metrics.livePushes.inc();
  }

  send(c: Conn, text: string): void {
    if (!isOpen(c)) return;
    c.ws.send(text);
    this.checkBackpressure(c);
  }

  /** A client that stopped reading is cut off; the mailbox keeps everything it did not acknowledge. */
  private checkBackpressure(c: Conn): void {
    if (c.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.log.info({ device: c.device }, "live: socket not reading, terminated");
      c.ws.terminate();
    }
  }

  fail(c: Conn, err: unknown, what: string): void {
    this.log.warn({ ...logErr(err), device: c.device || undefined }, `live: ${what}`);
    try {
      if (c.ws.readyState === WebSocket.OPEN) c.ws.close(1011, "internal error");
    } catch {
      c.ws.terminate();
    }
  }
}

/** The keepalive: terminate sockets that did not answer the previous WebSocket ping, ping the others. */
export function heartbeat(conns: Iterable<Conn>): void {
  for (const c of conns) {
    if (!c.alive) {
      c.ws.terminate();
      continue;
    }
    c.alive = false;
    try {
      c.ws.ping();
    } catch {
      c.ws.terminate();
    }
  }
}
