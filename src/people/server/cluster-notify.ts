// The listening half of live push across processes: one dedicated PostgreSQL
// connection LISTENs for the mail hints other processes NOTIFY when they
// store an envelope (src/store/mail-hint.ts). A hint only makes the sockets
// of those devices read their mailbox. The connection is re-made with backoff
// when it drops, and once it listens again every socket reads its mailbox,
// so a notification missed meanwhile loses nothing. The same connection
// LISTENs for relay frames written for this process (cluster-relay.ts).
import pg from "pg";
import { MAIL_HINT_CHANNEL, parseMailHint } from "../../store/index.js";
import { RELAY_CHANNEL } from "./cluster-relay.js";
import type { Logger } from "./logger.js";

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 10_000;

export interface ClusterListenerOptions {
  /** PostgreSQL connection string (the store's). */
  connection: string;
  /** This process's id: its own hints are skipped (it pushed them already). */
  origin: string;
  log: Logger;
  /** Mail may be waiting for these devices. */
  onHint(address: string, devices: readonly string[]): void;
  /** (Re)connected: hints may have been missed, every socket should read its mailbox. */
  onResync(): void;
  /** Relay frames were written for this process (also called on every (re)connect). */
  onRelay?(): void;
}

export class ClusterListener {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private backoff = MIN_BACKOFF_MS;
  private closed = false;

  constructor(private readonly o: ClusterListenerOptions) {}

  /** Resolves once listening the first time (rejects if that fails: the server should not start half-wired). */
  async start(): Promise<void> {
    await this.connect();
  }

  close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    return client ? client.end().catch(() => undefined) : Promise.resolve();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.o.connection, keepAlive: true });
    let dropped = false;
    const drop = (err?: Error) => {
      if (dropped) return;
      dropped = true;
      if (this.client === client) this.client = undefined;
      client.end().catch(() => undefined);
      if (this.closed) return;
      this.o.log.warn({ err: err?.message }, "cluster: notification connection lost, reconnecting");
      this.schedule();
    };
    client.on("error", drop);
    client.on("end", () => drop());
    client.on("notification", (n) => {
      if (n.channel === RELAY_CHANNEL) return n.payload === this.o.origin ? this.o.onRelay?.() : undefined;
      if (n.channel !== MAIL_HINT_CHANNEL || n.payload === undefined) return;
      const hint = parseMailHint(n.payload);
      if (!hint) return this.o.log.warn("cluster: malformed mail hint ignored");
      if (hint.origin !== this.o.origin) this.o.onHint(hint.address, hint.devices);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${MAIL_HINT_CHANNEL}`);
      if (this.o.onRelay) await client.query(`LISTEN ${RELAY_CHANNEL}`);
    } catch (err) {
      dropped = true;
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.backoff = MIN_BACKOFF_MS;
    // Whatever was stored while nobody listened is in the mailbox: read it now.
    this.o.onResync();
    this.o.onRelay?.();
  }

  private schedule(): void {
    const wait = this.backoff;
    this.backoff = Math.min(MAX_BACKOFF_MS, this.backoff * 2);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.connect().catch((err: unknown) => {
        this.o.log.warn({ err: (err as Error).message }, "cluster: reconnect failed");
        if (!this.closed) this.schedule();
      });
    }, wait);
    this.timer.unref();
  }
}
