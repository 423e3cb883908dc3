// Two connected ends that behave like a WebSocket client and the server's
// socket for it, inside one process: text frames are handed over in order, in
// a later turn of the event loop (as a socket would), with no TLS, no kernel
// socket and no framing. The live protocol above it is unchanged, so the
// server's catch-up, push, ack and relay rules, and the client's "acknowledge
// only after the durable write", hold for an in-process link exactly as for a
// WebSocket (PROTOCOL §17).
import { EventEmitter } from "node:events";

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

interface Shared {
  /** The link's state as the server sees it: open from the start, as a socket is once upgraded. */
  state: number;
  /** The client has seen "open": until then what the server sends waits (as in a socket's buffers). */
  clientOpen: boolean;
  /** Frames on their way, per direction, delivered in one batch per turn. */
  toClient: Buffer[];
  toServer: Buffer[];
  scheduled: boolean;
  closeCode: number;
  /** "close" was emitted (once, to both ends). */
  closeSent: boolean;
}

abstract class WireEnd extends EventEmitter {
  protected constructor(protected readonly s: Shared) {
    super();
  }

  get readyState(): number {
    return this.s.state;
  }

  /** Bytes handed over but not yet seen by the other end. */
  get bufferedAmount(): number {
    let n = 0;
    for (const b of this.outbound()) n += b.length;
    return n;
  }

  send(data: string | Buffer, options?: { binary?: boolean } | (() => void), cb?: () => void): void {
    const done = typeof options === "function" ? options : cb;
    if (this.s.state !== OPEN) {
      done?.();
      return;
    }
    this.outbound().push(typeof data === "string" ? Buffer.from(data, "utf8") : data);
    this.schedule();
    if (done) setImmediate(done);
  }

  close(code = 1000): void {
    if (this.s.state === CLOSED) return;
    this.s.state = CLOSED;
    this.s.closeCode = code;
    this.schedule();
  }

  terminate(): void {
    this.close(1006);
  }

  protected abstract outbound(): Buffer[];

  protected schedule(): void {
    if (this.s.scheduled) return;
    this.s.scheduled = true;
    setImmediate(() => this.flush());
  }

  protected abstract flush(): void;
}

/** The client's end: emits "open", "message" (Buffer, false), "ping", "close" (code). */
export class ClientWireEnd extends WireEnd {
  server!: ServerWireEnd;

  constructor(s: Shared) {
    super(s);
  }

  override get readyState(): number {
    return this.s.state === OPEN && !this.s.clientOpen ? CONNECTING : this.s.state;
  }

  override send(data: string | Buffer, options?: { binary?: boolean } | (() => void), cb?: () => void): void {
    // A client cannot send before its connection opened.
    if (!this.s.clientOpen) throw new Error("the in-process link is not open yet");
    super.send(data, options, cb);
  }

  protected outbound(): Buffer[] {
    return this.s.toServer;
  }

  protected flush(): void {
    this.s.scheduled = false;
    deliver(this.s, this, this.server);
  }

  /** The server accepted the link: it opens, and what the server sent meanwhile follows. */
  open(): void {
    if (this.s.clientOpen || this.s.state === CLOSED) return;
    setImmediate(() => {
      if (this.s.state === CLOSED) return;
      this.s.clientOpen = true;
      this.emit("open");
      this.schedule();
    });
  }

  /** The server refused the link before it opened (as an HTTP status on an upgrade). */
  refuse(statusCode: number): void {
    if (this.s.clientOpen || this.s.state === CLOSED) return;
    this.s.state = CLOSED;
    this.s.closeCode = 1006;
    this.s.closeSent = true;
    setImmediate(() => {
      this.emit("unexpected-response", undefined, { statusCode });
      this.emit("close", 1006);
    });
  }
}

/** The server's end: emits "message" (Buffer, false), "pong", "close" (code). */
export class ServerWireEnd extends WireEnd {
  client!: ClientWireEnd;

  constructor(s: Shared) {
    super(s);
  }

  protected outbound(): Buffer[] {
    return this.s.toClient;
  }

  protected flush(): void {
    this.s.scheduled = false;
    deliver(this.s, this.client, this);
  }

  /** A keepalive ping: the client sees "ping" and answers, as a WebSocket client does. */
  ping(): void {
    if (this.s.state !== OPEN) return;
    setImmediate(() => {
      if (this.s.state !== OPEN) return;
      this.client.emit("ping");
      this.emit("pong");
    });
  }
}

/** Hand over what is waiting in both directions, in order; then the close, once, to both ends. */
function deliver(s: Shared, client: ClientWireEnd, server: ServerWireEnd): void {
  // Before the client opened, what the server sent waits (open() flushes), unless the link closed.
  if (s.clientOpen) {
    const toServer = s.toServer.splice(0);
    const toClient = s.toClient.splice(0);
    for (const frame of toServer) server.emit("message", frame, false);
    for (const frame of toClient) client.emit("message", frame, false);
  }
  if (s.state === CLOSED && !s.closeSent) {
    s.closeSent = true;
    server.emit("close", s.closeCode);
    client.emit("close", s.closeCode);
  }
}

/** A new link: the server's end is usable at once; the client's opens when the attach point accepted it. */
export function wirePair(): { client: ClientWireEnd; server: ServerWireEnd } {
  const s: Shared = {
    state: OPEN,
    clientOpen: false,
    toClient: [],
    toServer: [],
    scheduled: false,
    closeCode: 1000,
    closeSent: false,
  };
  const client = new ClientWireEnd(s);
  const server = new ServerWireEnd(s);
  client.server = server;
  server.client = client;
  return { client, server };
}
