// The device's WebSocket to its own server (PROTOCOL §17): the server sends
// what is pending, then `caught_up`, then pushes new mail as it is stored.
// Envelopes are taken in by the receiver one at a time, in order (opened,
// verified, stored); the messages are then handled in the receiver's fair
// order while later envelopes are taken in, up to MAX_AHEAD not yet handled.
// Each is acknowledged only once handled (delivered, or set aside durably),
// so acknowledgements may come out of order. A transient failure drops the
// connection without acknowledging, and the reconnect (with backoff) catches
// up from that envelope on.
import { WebSocket, type RawData } from "ws";
import { webSocketTransport, type LiveChannel, type LiveTransport } from "./live-transport.js";
import { z } from "zod";
import type { ClientEvents } from "./events.js";
import type { Session } from "./session.js";
import { sleep } from "../../shared/sleep.js";
import { secureContextFor } from "../net/tls-pool.js";

const LIVE_PATH = "/_people/v1/live";
/** The server pings every 30 s; a connection silent for longer than this is dead. */
const SILENCE_MS = 75_000;
/** Envelopes taken in but not yet handled, at most: past this, taking in waits. */
const MAX_AHEAD = 5000;
/** On stop, how long envelopes already handled may take to be acknowledged (their fsync) before the socket closes. */
const STOP_GRACE_MS = 2000;

const frameSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready") }),
  z.object({
    type: z.literal("envelope"),
    seq: z.number(),
    id: z.string().regex(/^[A-Za-z0-9_-]{21}[AQgw]$/),
    expires_at: z.number(),
    data: z.string(),
  }),
  z.object({ type: z.literal("caught_up"), seq: z.number() }),
  z.object({ type: z.literal("acked") }),
  z.object({
    type: z.literal("relay"),
    from: z.object({ address: z.string().max(254), device: z.string().max(64) }),
    session: z.string().max(64),
    data: z.string(),
  }),
  z.object({ type: z.literal("pong") }),
  z.object({
    type: z.literal("error"),
    errcode: z.string(),
    error: z.string(),
    session: z.string().max(64).optional(),
  }),
]);

/** A relayed realtime frame (PROTOCOL §17.4), `from` as the server authenticated it. */
export interface RelayFrame {
  from: { address: string; device: string };
  session: string;
  data: string;
}

export interface LiveHandler {
  /**
   * Takes the envelope in (stored, or rejected and reported; throws to retry
   * later); `handled` resolves once it may be acknowledged (rejects: retry later).
   */
  envelope(envelopeId: string, inner: Buffer): Promise<{ handled: Promise<void> }>;
  caughtUp(seq: number): void;
  /** Realtime (realtime.ts): handled as they arrive, not queued behind envelopes being processed. */
  relay?(frame: RelayFrame): void;
  /** The server refused a relay frame of `session` (PEOPLE_UNAVAILABLE: the device is not reachable by relay). */
  relayError?(session: string, errcode: string): void;
  pong?(): void;
  /** The socket became ready (authenticated) or closed. */
  readyChange?(ready: boolean): void;
}

export interface ReconnectOptions {
  baseMs?: number;
  maxMs?: number;
}

export class LiveSocket {
  private stopped = true;
  private loop: Promise<void> | undefined;
  private ws: LiveChannel | undefined;
  /** The socket, once the server said `ready`, until it closes. */
  private readyWs: LiveChannel | undefined;
  private abort = new AbortController();
  /** The open connection's envelopes taken in and not yet acknowledged. */
  private inflight: Set<Promise<void>> | undefined;

  constructor(
    private readonly o: {
      serverUrl: () => Promise<string>;
      session: Session;
      ca?: string[];
      /** Agent and TLS options for the socket to a host (direct, or through Tor); replaces `ca` when given. */
      wsOptions?: (host: string) => object;
      handler: LiveHandler;
      /** How to reach the server (default: a WebSocket; in-process for a server in this process). */
      transport?: LiveTransport;
      events: ClientEvents;
      reconnect?: ReconnectOptions;
    },
  ) {}

  start(): void {
    if (this.loop) return;
    this.stopped = false;
    this.abort = new AbortController();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    // Handled envelopes are acknowledged once the store's fsync is done: let those finish, briefly,
    // so they do not come again (nothing is lost either way: what is not acknowledged comes again).
    const inflight = this.inflight;
    if (inflight && inflight.size > 0) {
      const grace = new AbortController();
      await Promise.race([Promise.allSettled([...inflight]), sleep(STOP_GRACE_MS, grace.signal)]);
      grace.abort();
    }
    this.ws?.close(1000);
    await this.loop;
    this.loop = undefined;
  }

  /** Authenticated and open: frames sent now reach the server. */
  get ready(): boolean {
    return this.readyWs !== undefined && this.readyWs.readyState === WebSocket.OPEN;
  }

  /** Send a client frame (relay, ping) on the ready socket; false when there is none. */
  send(frame: object): boolean {
    if (!this.ready) return false;
    this.readyWs!.send(JSON.stringify(frame));
    return true;
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      try {
        await this.connectOnce(() => (attempt = 0));
      } catch (error) {
        this.o.events.emit("error", { where: "live", error });
      }
      if (this.stopped) break;
      const base = this.o.reconnect?.baseMs ?? 500;
      const delay = Math.min(this.o.reconnect?.maxMs ?? 30_000, base * 2 ** Math.min(attempt++, 20));
      await sleep(delay / 2 + Math.random() * (delay / 2), this.abort.signal);
    }
  }

  /** One connection, from upgrade to close; resolves when it is over. */
  private async connectOnce(onReady: () => void): Promise<void> {
    const token = await this.o.session.token();
    const url = `${(await this.o.serverUrl()).replace(/^https:/, "wss:")}${LIVE_PATH}`;
    const tls = this.o.wsOptions
      ? this.o.wsOptions(new URL(url).hostname)
      : this.o.ca?.length
        ? { secureContext: secureContextFor(this.o.ca) }
        : {};
    const ws = (this.o.transport ?? webSocketTransport).open({ url, token, tls });
    this.ws = ws;
    if (this.stopped) ws.close(1000);
    // Frames are taken in strictly one after another; after a failure the rest are left for the next connection.
    let chain = Promise.resolve();
    let failed = false;
    const inflight = new Set<Promise<void>>();
    this.inflight = inflight;
    const fail = (error: unknown) => {
      if (failed) return;
      failed = true;
      this.o.events.emit("error", { where: "receive", error });
      ws.terminate();
    };
    let silence: NodeJS.Timeout | undefined;
    const alive = () => {
      clearTimeout(silence);
      silence = setTimeout(() => ws.terminate(), SILENCE_MS);
    };
    await new Promise<void>((resolve) => {
      ws.on("unexpected-response", (_req, res) => {
        if (res.statusCode === 401) this.o.session.invalidate();
        this.o.events.emit("connection", { state: "closed", code: res.statusCode });
        ws.terminate();
      });
      ws.on("open", alive);
      ws.on("ping", alive);
      ws.on("error", () => undefined); // "close" follows and ends this connection
      ws.on("message", (data: RawData, isBinary: boolean) => {
        alive();
        if (isBinary || failed || this.stopped) return;
        const frame = parseFrame(data.toString());
        if (!frame || this.realtimeFrame(frame)) return;
        chain = chain.then(async () => {
          if (failed) return;
          try {
            await this.frame(ws, frame, onReady, { inflight, fail });
          } catch (error) {
            fail(error);
          }
        });
      });
      ws.on("close", (code: number) => {
        clearTimeout(silence);
        if (this.readyWs === ws) {
          this.readyWs = undefined;
          this.o.handler.readyChange?.(false);
        }
        this.o.events.emit("connection", { state: "closed", code });
        resolve();
      });
    });
    await chain;
    await Promise.all(inflight);
    this.ws = undefined;
  }

  /** Realtime frames are handled at once, in arrival order; true when `frame` was one. */
  private realtimeFrame(frame: Frame): boolean {
    try {
      return this.dispatchRealtime(frame);
    } catch (error) {
      // Never let a realtime handler's failure escape a socket event.
      this.o.events.emit("error", { where: "realtime", error });
      return true;
    }
  }

  private dispatchRealtime(frame: Frame): boolean {
    switch (frame.type) {
      case "relay":
        this.o.handler.relay?.({ from: frame.from, session: frame.session, data: frame.data });
        return true;
      case "pong":
        this.o.handler.pong?.();
        return true;
      case "error":
        if (frame.session === undefined) return false;
        this.o.handler.relayError?.(frame.session, frame.errcode);
        return true;
      default:
        return false;
    }
  }

  private async frame(
    ws: LiveChannel,
    frame: Frame,
    onReady: () => void,
    c: { inflight: Set<Promise<void>>; fail: (error: unknown) => void },
  ): Promise<void> {
    switch (frame.type) {
      case "ready":
        onReady();
        if (ws.readyState === WebSocket.OPEN) {
          this.readyWs = ws;
          this.o.handler.readyChange?.(true);
        }
        this.o.events.emit("connection", { state: "open" });
        return;
      case "envelope": {
        while (c.inflight.size >= MAX_AHEAD) await Promise.race(c.inflight);
        const { handled } = await this.o.handler.envelope(frame.id, Buffer.from(frame.data, "base64url"));
        const acked = handled.then(
          () => {
            // Not open any more: the envelope stays in the mailbox and comes again; the inbox dedups it.
            if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "ack", ids: [frame.id] }));
          },
          (error: unknown) => c.fail(error),
        );
        c.inflight.add(acked);
        void acked.finally(() => c.inflight.delete(acked));
        return;
      }
      case "caught_up": {
        // Caught up once what came before is handled; later envelopes are taken in meanwhile.
        const before = [...c.inflight];
        void Promise.all(before).then(() => this.o.handler.caughtUp(frame.seq));
        return;
      }
      default:
        return;
    }
  }
}

type Frame = z.infer<typeof frameSchema>;

function parseFrame(text: string): Frame | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = frameSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
