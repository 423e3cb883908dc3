// The device WebSocket: new mail is pushed the moment it is durable, missed
// mail is caught up from the mailbox on connect, and realtime frames are
// relayed between devices, of this server or (through RelayService) of another.
//
// ## Live connection: `GET /_people/v1/live` (WebSocket over HTTPS)
//
// All frames are JSON text frames. A frame larger than 128 KiB closes the
// socket with 1009; binary frames are malformed.
//
// ### Authentication
//
// Preferred: `Authorization: Bearer <token>` on the upgrade request (the token
// from `/_people/v1/auth/token`). A missing-or-bad token in that header is
// answered `401` with `{"errcode":"PEOPLE_UNAUTHORIZED","error":...}` and the
// connection is not upgraded.
//
// For clients that cannot set headers (browsers): upgrade without the header
// and send `{"type":"auth","token":"<token>"}` as the first frame within 10 s.
// A bad token, a timeout, or any other frame first closes the socket with code
// 4401. Wait for `ready` before sending anything else: frames sent while the
// token is being checked are answered with error PEOPLE_UNAUTHORIZED.
//
// More connections than the server allows: `503` with errcode
// PEOPLE_UNAVAILABLE, before upgrading. Any other path: `404`.
//
// ### Server → client
//
//   {"type":"ready","address":"alice@example.org","device":"<device id>"}
//       First frame after authentication.
//   {"type":"envelope","seq":n,"id":"<envelope id>","expires_at":ms,"data":"<base64url inner envelope>"}
//       One envelope for this device. After `ready` the server sends every
//       envelope still pending for the device, oldest first, then
//       `caught_up`; after that each new envelope is pushed as soon as it is
//       stored. Every envelope is sent once per connection, in ascending
//       `seq`. An envelope stays in the mailbox until acknowledged, so a client
//       that reconnects gets again whatever it did not acknowledge.
//   {"type":"caught_up","seq":n}
//       The mailbox has been sent up to seq `n` (0 when it was empty);
//       envelopes that follow are live pushes.
//   {"type":"acked","count":n}
//       Answer to `ack`: how many of the ids were pending for this device.
//   {"type":"relay","from":{"address":...,"device":...},"session":"<id>","data":"<base64url>"}
//       A realtime frame from another device (see `relay` below).
//   {"type":"pong"}
//       Answer to `ping`.
//   {"type":"error","errcode":"<PEOPLE_*>","error":"<text>"[,"session":"<id>"]}
//       A frame was refused; the socket stays open. After more than 20
//       malformed frames the socket is closed with 1008.
//
// ### Client → server
//
//   {"type":"ack","ids":["<envelope id>",...]}          (1 to 500 ids)
//       Acknowledge envelopes: they are removed from this device's mailbox.
//       Answered with `acked`.
//   {"type":"relay","to":{"address":...,"device":...},"session":"<id>","data":"<base64url>"}
//       Deliver an opaque frame (at most 64 KiB decoded; the server never
//       reads it) to the sockets of another device, as `relay` with `from`
//       set by the server to the sender's authenticated address and device.
//       A device on another domain is reached through its server
//       (POST /_people/v1/relay, signed by this server; frames to one device
//       are forwarded one after another, so they arrive in order). Nothing
//       is answered on success. If that device is not connected, or its
//       server cannot be reached or refuses, the answer is an error
//       PEOPLE_UNAVAILABLE carrying `session`. `session` is 1-64 characters
//       of [A-Za-z0-9_-].
//   {"type":"ping"}
//       Answered with `pong` (an application-level keepalive for clients
//       that cannot see WebSocket pings). The pong comes only after every
//       relay frame sent before the ping was delivered or refused, so a pong
//       confirms them.
//
// ### Keepalive, flow control, close codes
//
// The server sends a WebSocket ping every 30 s and terminates a socket that
// has not answered the previous one. A socket whose unsent output exceeds
// 8 MiB (a client that stopped reading) is terminated; the client reconnects
// and catches up from the mailbox.
//
//   1001  the server is shutting down         1008  too many malformed frames
//   1009  frame too large                     1011  internal error
//   4401  authentication failed or timed out
import { STATUS_CODES, type IncomingMessage } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { z } from "zod";
import { ERROR_CODES, isPeopleError, type ErrorCode } from "../errors.js";
import { addressDomain, isPeopleAddress, type PeopleAddress } from "../protocol/address.js";
import type { AuthService, AuthedDevice } from "./auth.js";
import type { EnvelopeListener } from "./ingest-service.js";
import type { Logger } from "./logger.js";
import type { ServerMetrics } from "./metrics.js";
import type { MailboxStore, StoredEnvelope } from "../../store/types.js";
import type { RelayEndpoint, RelayService } from "./relay-service.js";

export const LIVE_PATH = "/_people/v1/live";

export interface LiveOptions {
  /** Only `authenticate` is used (an AuthService, or anything shaped like it). */
  auth: Pick<AuthService, "authenticate">;
  /** Only `mailbox.pending` and `mailbox.ack` are used (a PeopleStore will do). */
  store: { readonly mailbox: Pick<MailboxStore, "pending" | "ack"> };
  metrics: ServerMetrics;
  log: Logger;
  /** Refuse the upgrade with 503 beyond this many sockets (authenticated or not yet). */
  maxConnections: number;
  /** Ping every socket this often; terminate those that did not pong since the last ping. Default 30 s. */
  pingIntervalMs?: number;
  /** Largest frame a client may send (ws maxPayload). Default 128 KiB. */
  maxFrameBytes?: number;
  /** How long a socket without an Authorization header has to send its auth frame. Default 10 s. */
  authTimeoutMs?: number;
  /** Forwards relay frames to devices of other domains; without it they are answered PEOPLE_UNAVAILABLE. */
  forwarder?: Pick<RelayService, "forward">;
}

const CATCH_UP_PAGE = 500;
/** Output a socket may have queued before it is terminated as not reading. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** During catch-up, wait for the socket to drain above this much queued output. */
const CATCH_UP_HIGH_WATER = 1024 * 1024;
/** Live pushes kept for a socket while it catches up; beyond this, catch-up re-reads the mailbox instead. */
const MAX_CATCH_UP_BUFFER = 256;
const MAX_MALFORMED = 20;
const MAX_RELAY_BYTES = 64 * 1024;
/** Relay frames of one socket waiting to be forwarded to other servers; beyond this they are refused. */
const MAX_QUEUED_FORWARDS = 1024;
const PONG = '{"type":"pong"}';
/** Time given to clients to answer a close frame on shutdown before the socket is cut. */
const CLOSE_GRACE_MS = 2_000;

const B64U = /^[A-Za-z0-9_-]*$/;
const ENVELOPE_ID = /^[A-Za-z0-9_-]{21}[AQgw]$/;
const DEVICE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;

const clientFrame = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auth"), token: z.string().max(512) }),
  z.object({
    type: z.literal("ack"),
    ids: z.array(z.string().regex(ENVELOPE_ID, "not an envelope id")).min(1).max(CATCH_UP_PAGE),
  }),
  z.object({
    type: z.literal("relay"),
    to: z.object({
      address: z.string().max(254).refine(isPeopleAddress, "not a canonical People address"),
      device: z.string().regex(DEVICE_ID, "not a device id"),
    }),
    session: z.string().regex(SESSION_ID, "not a session id"),
    data: z
      .string()
      .max(Math.ceil((MAX_RELAY_BYTES * 4) / 3), "relay data larger than 64 KiB")
      .regex(B64U, "data is not base64url")
      .refine((s) => s.length % 4 !== 1, "data is not base64url"),
  }),
  z.object({ type: z.literal("ping") }),
]);
type ClientFrame = z.infer<typeof clientFrame>;

const enum State {
  /** Upgraded without a header: waiting for the auth frame. */
  AwaitingAuth,
  /** Auth frame received, token being checked. */
  Authenticating,
  /** Authenticated, mailbox being sent; live pushes are buffered. */
  CatchingUp,
  Live,
}

/** Per-socket state, kept small: the bench measures memory per idle device. */
class Conn {
  state = State.AwaitingAuth;
  /** Answered the last ping. */
  alive = true;
  malformed = 0;
  address = "";
  device = "";
  /** Live pushes that arrived during catch-up; null once live. */
  buffer: StoredEnvelope[] | null = null;
  /** The buffer overflowed: catch-up must read the mailbox again before going live. */
  overflowed = false;
  authTimer: NodeJS.Timeout | undefined = undefined;
  /** Relay frames to other servers, one queue per target device; null until the first. */
  queues: Map<string, ForwardQueue> | null = null;
  /** Frames in `queues`. */
  queued = 0;
  /** One promise per queued frame, settled once it was forwarded or refused: a pong waits for them. */
  forwards: Set<Promise<void>> | null = null;
  /** The last pong still waiting for forwards; later pongs go after it. */
  pongTail: Promise<void> | null = null;

  constructor(readonly ws: WebSocket) {}

  get key(): string {
    return deviceKey(this.address, this.device);
  }
}

interface ForwardQueue {
  to: RelayEndpoint;
  items: { session: string; data: string; done: () => void }[];
  running: boolean;
}

function deviceKey(address: string, device: string): string {
  return `${address}\n${device}`;
}

function isOpen(c: Conn): boolean {
  return c.ws.readyState === WebSocket.OPEN;
}

function envelopeFrame(e: StoredEnvelope): Buffer {
  return Buffer.from(
    JSON.stringify({
      type: "envelope",
      seq: e.seq,
      id: e.envelopeId,
      expires_at: e.expiresAt,
      data: e.inner.toString("base64url"),
    }),
    "utf8",
  );
}

function errorFrame(code: ErrorCode, error: string, session?: string): string {
  return JSON.stringify(
    session === undefined
      ? { type: "error", errcode: code, error }
      : { type: "error", errcode: code, error, session },
  );
}

function ignoreSocketError(): void {
  // Errors on a socket being upgraded (a reset, a TLS failure) only end it.
}

/** Answer an upgrade request with a plain HTTP error and drop the connection. */
function rejectUpgrade(socket: Duplex, code: ErrorCode, extraHeaders = ""): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const { status, text } = ERROR_CODES[code];
  const body = JSON.stringify({ errcode: code, error: text });
  socket.once("finish", () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n` +
      "Connection: close\r\n" +
      "Content-Type: application/json\r\n" +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      extraHeaders +
      "\r\n" +
      body,
  );
}

function pathOf(url: string | undefined): string {
  if (!url) return "";
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

/** What may be logged of an error: never a token (none is ever in one) nor frame data. */
function logErr(err: unknown): { errcode?: string; err?: unknown } {
  return isPeopleError(err) ? { errcode: err.code } : { err };
}

export class LiveHub implements EnvelopeListener {
  private readonly auth: LiveOptions["auth"];
  private readonly store: LiveOptions["store"];
  private readonly metrics: ServerMetrics;
  private readonly log: Logger;
  private readonly maxConnections: number;
  private readonly authTimeoutMs: number;
  private readonly forwarder: LiveOptions["forwarder"];
  private readonly wss: WebSocketServer;
  /** Every open socket, authenticated or not. */
  private readonly all = new Set<Conn>();
  /** Authenticated sockets by `${address}\n${device}`. */
  private readonly byDevice = new Map<string, Conn[]>();
  /** Upgrade requests whose Authorization header is being checked. */
  private upgrading = 0;
  private closing = false;
  private readonly pingTimer: NodeJS.Timeout;

  constructor(o: LiveOptions) {
    this.auth = o.auth;
    this.store = o.store;
    this.metrics = o.metrics;
    this.log = o.log;
    this.maxConnections = o.maxConnections;
    this.authTimeoutMs = o.authTimeoutMs ?? 10_000;
    this.forwarder = o.forwarder;
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: o.maxFrameBytes ?? 128 * 1024,
      // Bound the work a client can cause with many tiny fragments or TLS records.
      maxFragments: 128,
      maxBufferedChunks: 4096,
    });
    this.pingTimer = setInterval(() => this.heartbeat(), o.pingIntervalMs ?? 30_000);
    this.pingTimer.unref();
  }

  /** Attach to an https.Server's 'upgrade' event for path /_people/v1/live (other paths: 404). */
  attach(server: HttpsServer): void {
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      try {
        this.onUpgrade(req, socket, head);
      } catch (err) {
        this.log.warn(logErr(err), "live: upgrade failed");
        socket.destroy();
      }
    });
  }

  connectionCount(): number {
    return this.all.size;
  }

  /** Push a stored envelope to every open socket of the devices it is for: O(devices). */
  envelopeStored(address: string, devices: readonly string[], envelope: StoredEnvelope): void {
    try {
      let frame: Buffer | undefined;
      for (const device of devices) {
        const conns = this.byDevice.get(deviceKey(address, device));
        if (!conns) continue;
        for (const c of conns) {
          if (c.buffer !== null) {
            // Catching up: the envelope is durable, so if the buffer is full the
            // next mailbox read finds it instead.
            if (c.overflowed) continue;
            if (c.buffer.length >= MAX_CATCH_UP_BUFFER) {
              c.overflowed = true;
              c.buffer = [];
            } else c.buffer.push(envelope);
            continue;
          }
          frame ??= envelopeFrame(envelope);
          this.pushEnvelope(c, frame);
        }
      }
    } catch (err) {
      // The envelope is stored: a failed push must never fail the ingest.
      this.log.warn(logErr(err), "live: push failed");
    }
  }

  /**
   * A relay frame from a device of another server (already verified by
   * RelayService): send it to every open socket of `to`. False when none is open.
   */
  deliverRelay(to: RelayEndpoint, from: RelayEndpoint, session: string, data: string): boolean {
    return this.deliver(to, from, session, data, undefined) > 0;
  }

  /** Close every socket (code 1001) and stop timers; resolves when all are closed. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.pingTimer);
    const closed: Promise<void>[] = [];
    for (const c of this.all) {
      closed.push(
        new Promise<void>((resolve) => {
          const cut = setTimeout(() => c.ws.terminate(), CLOSE_GRACE_MS);
          c.ws.once("close", () => {
            clearTimeout(cut);
            resolve();
          });
          c.ws.close(1001, "server shutting down");
        }),
      );
    }
    await Promise.all(closed);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  // --- connection set-up -------------------------------------------------

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // node:http stops listening for errors on an upgraded socket: without this
    // a reset during the token check would be an uncaught 'error'.
    socket.on("error", ignoreSocketError);
    if (pathOf(req.url) !== LIVE_PATH) return rejectUpgrade(socket, "PEOPLE_NOT_FOUND");
    if (this.full()) return rejectUpgrade(socket, "PEOPLE_UNAVAILABLE");
    const header = req.headers.authorization;
    if (header === undefined) return this.upgrade(req, socket, head, undefined);
    this.upgrading++;
    this.auth.authenticate(header, Date.now()).then(
      (who) => {
        this.upgrading--;
        if (socket.destroyed) return;
        if (this.closing) return rejectUpgrade(socket, "PEOPLE_UNAVAILABLE");
        this.upgrade(req, socket, head, who);
      },
      (err: unknown) => {
        this.upgrading--;
        if (isPeopleError(err, "PEOPLE_UNAUTHORIZED")) {
          this.log.debug("live: upgrade refused, bad token");
          return rejectUpgrade(socket, "PEOPLE_UNAUTHORIZED", 'WWW-Authenticate: Bearer realm="people"\r\n');
        }
        this.log.warn(logErr(err), "live: token check failed");
        rejectUpgrade(socket, "PEOPLE_INTERNAL");
      },
    );
  }

  private full(): boolean {
    return this.closing || this.all.size + this.upgrading >= this.maxConnections;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, who: AuthedDevice | undefined): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      socket.removeListener("error", ignoreSocketError);
      this.accept(ws, who);
    });
  }

  private accept(ws: WebSocket, who: AuthedDevice | undefined): void {
    const c = new Conn(ws);
    this.all.add(c);
    this.metrics.liveConnections.inc();
    ws.on("message", (data, isBinary) => this.onMessage(c, data, isBinary));
    ws.on("pong", () => {
      c.alive = true;
    });
    ws.on("error", (err) => {
      // Protocol violations by the client (too large, bad UTF-8...): ws closes the socket itself.
      this.log.debug({ code: (err as { code?: string }).code }, "live: socket error");
    });
    ws.once("close", () => this.onClose(c));
    if (who) this.start(c, who);
    else {
      c.authTimer = setTimeout(() => {
        c.authTimer = undefined;
        if (c.state === State.AwaitingAuth) ws.close(4401, "authentication timed out");
      }, this.authTimeoutMs);
    }
  }

  private onClose(c: Conn): void {
    if (!this.all.delete(c)) return;
    this.metrics.liveConnections.dec();
    if (c.authTimer) clearTimeout(c.authTimer);
    c.authTimer = undefined;
    c.buffer = null;
    if (c.state >= State.CatchingUp) {
      const key = c.key;
      const conns = this.byDevice.get(key);
      if (conns) {
        const rest = conns.filter((x) => x !== c);
        if (rest.length === 0) this.byDevice.delete(key);
        else this.byDevice.set(key, rest);
      }
    }
  }

  /** Authenticated: index the socket, say ready, and send the mailbox. */
  private start(c: Conn, who: AuthedDevice): void {
    c.state = State.CatchingUp;
    c.address = who.address;
    c.device = who.device;
    c.buffer = [];
    const key = c.key;
    const conns = this.byDevice.get(key);
    if (conns) conns.push(c);
    else this.byDevice.set(key, [c]);
    this.send(c, JSON.stringify({ type: "ready", address: who.address, device: who.device }));
    this.catchUp(c).catch((err: unknown) => this.fail(c, err, "catch-up failed"));
  }

  private async catchUp(c: Conn): Promise<void> {
    let after = 0;
    for (;;) {
      const page = await this.store.mailbox.pending(c.address, c.device, after, CATCH_UP_PAGE);
      if (!isOpen(c)) return;
      for (const e of page) {
        after = e.seq;
        const frame = envelopeFrame(e);
        if (c.ws.bufferedAmount < CATCH_UP_HIGH_WATER) this.pushEnvelope(c, frame);
        else {
          // A large mailbox: wait for this frame to reach the socket instead of queueing it all.
          await new Promise<void>((resolve) => c.ws.send(frame, { binary: false }, () => resolve()));
          this.metrics.livePushes.inc();
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
      this.pushEnvelope(c, envelopeFrame(e));
    }
    this.send(c, JSON.stringify({ type: "caught_up", seq: after }));
  }

  // --- frames from the client ----------------------------------------------

  private onMessage(c: Conn, data: RawData, isBinary: boolean): void {
    let frame: ClientFrame;
    try {
      // Before authentication nothing but a well-formed auth frame is accepted.
      const bad = (detail: string): void =>
        c.state === State.AwaitingAuth ? this.unauthorized(c) : this.malformed(c, detail);
      if (isBinary || !Buffer.isBuffer(data)) return bad("expected a JSON text frame");
      let json: unknown;
      try {
        json = JSON.parse(data.toString("utf8"));
      } catch {
        return bad("frame is not JSON");
      }
      const parsed = clientFrame.safeParse(json);
      if (!parsed.success) return bad(z.prettifyError(parsed.error).slice(0, 300));
      frame = parsed.data;
    } catch (err) {
      return this.fail(c, err, "frame handling failed");
    }
    this.handle(c, frame).catch((err: unknown) => this.fail(c, err, `${frame.type} failed`));
  }

  private async handle(c: Conn, frame: ClientFrame): Promise<void> {
    if (c.state === State.AwaitingAuth) {
      if (frame.type !== "auth") return this.unauthorized(c);
      c.state = State.Authenticating;
      if (c.authTimer) clearTimeout(c.authTimer);
      c.authTimer = undefined;
      let who: AuthedDevice;
      try {
        who = await this.auth.authenticate(`Bearer ${frame.token}`, Date.now());
      } catch (err) {
        if (!isPeopleError(err, "PEOPLE_UNAUTHORIZED")) throw err;
        this.log.debug("live: auth frame refused, bad token");
        return this.unauthorized(c);
      }
      if (isOpen(c)) this.start(c, who);
      return;
    }
    if (c.state === State.Authenticating) {
      this.malformed(c, "wait for ready", "PEOPLE_UNAUTHORIZED");
      return;
    }
    switch (frame.type) {
      case "auth":
        return this.malformed(c, "already authenticated");
      case "ping":
        return this.pong(c);
      case "ack": {
        const count = await this.store.mailbox.ack(c.address, c.device, frame.ids);
        return this.send(c, JSON.stringify({ type: "acked", count }));
      }
      case "relay":
        return this.relay(c, frame);
    }
  }

  private relay(c: Conn, frame: Extract<ClientFrame, { type: "relay" }>): void {
    const { to, session, data } = frame;
    // A token is only ever issued for an account of this server, so the
    // sender's domain is this server's domain.
    if (addressDomain(to.address as PeopleAddress) !== addressDomain(c.address as PeopleAddress)) {
      return this.forward(c, to, session, data);
    }
    if (this.deliver(to, { address: c.address, device: c.device }, session, data, c) === 0) {
      this.send(c, errorFrame("PEOPLE_UNAVAILABLE", "that device is not connected", session));
    }
  }

  private deliver(
    to: RelayEndpoint,
    from: RelayEndpoint,
    session: string,
    data: string,
    except: Conn | undefined,
  ): number {
    let out: string | undefined;
    let delivered = 0;
    for (const t of this.byDevice.get(deviceKey(to.address, to.device)) ?? []) {
      if (t === except || !isOpen(t)) continue;
      out ??= JSON.stringify({
        type: "relay",
        from: { address: from.address, device: from.device },
        session,
        data,
      });
      this.send(t, out);
      delivered++;
    }
    return delivered;
  }

  /** Queue a frame for a device of another server; frames to one device go one after another. */
  private forward(c: Conn, to: RelayEndpoint, session: string, data: string): void {
    if (!this.forwarder) {
      return this.send(c, errorFrame("PEOPLE_UNAVAILABLE", "relay to other servers is not enabled", session));
    }
    if (c.queued >= MAX_QUEUED_FORWARDS) {
      return this.send(c, errorFrame("PEOPLE_UNAVAILABLE", "too many relay frames in flight", session));
    }
    const key = deviceKey(to.address, to.device);
    c.queues ??= new Map();
    let q = c.queues.get(key);
    if (!q) {
      q = { to: { address: to.address, device: to.device }, items: [], running: false };
      c.queues.set(key, q);
    }
    let done!: () => void;
    const settled = new Promise<void>((resolve) => (done = resolve));
    const forwards = (c.forwards ??= new Set());
    forwards.add(settled);
    void settled.then(() => forwards.delete(settled));
    q.items.push({ session, data, done });
    c.queued++;
    if (!q.running) void this.runQueue(c, key, q);
  }

  private async runQueue(c: Conn, key: string, q: ForwardQueue): Promise<void> {
    const forwarder = this.forwarder!;
    q.running = true;
    const from = { address: c.address, device: c.device };
    try {
      while (q.items.length > 0 && isOpen(c)) {
        const item = q.items[0]!;
        try {
          await forwarder.forward({ from, to: q.to, session: item.session, data: item.data });
          q.items.shift();
          c.queued--;
          item.done();
        } catch (err) {
          this.log.debug({ ...logErr(err), device: c.device }, "live: relay to another server failed");
          // This frame and those queued behind it for that device are refused; each session is told once.
          const failed = q.items.splice(0);
          c.queued -= failed.length;
          for (const session of new Set(failed.map((f) => f.session))) {
            this.send(c, errorFrame("PEOPLE_UNAVAILABLE", "that device is not reachable", session));
          }
          for (const f of failed) f.done();
        }
      }
    } finally {
      // The socket closed: there is nobody left to tell.
      const left = q.items.splice(0);
      c.queued -= left.length;
      for (const f of left) f.done();
      q.running = false;
      if (c.queues?.get(key) === q) c.queues.delete(key);
    }
  }

  /** A pong confirms the relay frames sent before its ping, so it waits until those were forwarded or refused. */
  private pong(c: Conn): void {
    const wait: Promise<unknown>[] = c.forwards ? [...c.forwards] : [];
    if (c.pongTail) wait.push(c.pongTail);
    if (wait.length === 0) return this.send(c, PONG);
    const tail: Promise<void> = Promise.all(wait).then(() => {
      if (c.pongTail === tail) c.pongTail = null;
      this.send(c, PONG);
    });
    c.pongTail = tail;
  }

  private malformed(c: Conn, detail: string, code: ErrorCode = "PEOPLE_BAD_REQUEST"): void {
    if (++c.malformed > MAX_MALFORMED) {
      c.ws.close(1008, "too many malformed frames");
      return;
    }
    this.send(c, errorFrame(code, detail));
  }

  private unauthorized(c: Conn): void {
    c.state = State.AwaitingAuth;
    c.ws.close(4401, "unauthorized");
  }

  // --- output ------------------------------------------------------------

  private pushEnvelope(c: Conn, frame: Buffer): void {
    if (!isOpen(c)) return;
    c.ws.send(frame, { binary: false });
    this.metrics.livePushes.inc();
    this.checkBackpressure(c);
  }

  private send(c: Conn, text: string): void {
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

  private fail(c: Conn, err: unknown, what: string): void {
    this.log.warn({ ...logErr(err), device: c.device || undefined }, `live: ${what}`);
    try {
      if (c.ws.readyState === WebSocket.OPEN) c.ws.close(1011, "internal error");
    } catch {
      c.ws.terminate();
    }
  }

  private heartbeat(): void {
    for (const c of this.all) {
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
}
