// The device WebSocket: new mail is pushed the moment it is durable, missed
// mail is caught up from the mailbox on connect, and realtime frames are
// relayed between devices, of this server or (through RelayService) of another.
//
// The wire (`GET /_people/v1/live`: authentication, frames, keepalive, flow
// control, close codes) is specified in docs/PROTOCOL.md §17.
//
// The parts: live-frames.ts (the frames), live-conn.ts (a socket's state),
// live-catch-up.ts, live-relay.ts, live-output.ts (writes and flow control),
// live-upgrade.ts (refused upgrades); this file authenticates and dispatches.
import type { IncomingMessage } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { WebSocketServer, type RawData } from "ws";
import { z } from "zod";
import { isPeopleError, PeopleError, type ErrorCode } from "../errors.js";
import type { AuthService, AuthedDevice } from "./auth.js";
import type { EnvelopeListener } from "./ingest-service.js";
import { catchUp, holdDuringCatchUp } from "./live-catch-up.js";
import { Conn, ConnIndex, isOpen, State, type LiveWire } from "./live-conn.js";
import { clientFrame, envelopeFrame, errorFrame, type ClientFrame } from "./live-frames.js";
import { heartbeat, LiveOutput, logErr } from "./live-output.js";
import { LivePuller } from "./live-pull.js";
import { LiveRelay } from "./live-relay.js";
import { ignoreSocketError, pathOf, rejectUpgrade } from "./live-upgrade.js";
import type { Logger } from "./logger.js";
import type { ServerMetrics } from "./metrics.js";
import type { MailboxStore, StoredEnvelope } from "../../store/types.js";
import type { RelayEndpoint, RelayService } from "./relay-service.js";
import type { ClusterRelay } from "./cluster-relay.js";

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

const MAX_MALFORMED = 20;
/** Time given to clients to answer a close frame on shutdown before the socket is cut. */
const CLOSE_GRACE_MS = 2_000;

export class LiveHub implements EnvelopeListener {
  private readonly auth: LiveOptions["auth"];
  private readonly store: LiveOptions["store"];
  private readonly metrics: ServerMetrics;
  private readonly log: Logger;
  private readonly maxConnections: number;
  private readonly authTimeoutMs: number;
  private readonly wss: WebSocketServer;
  /** Every open socket, authenticated or not. */
  private readonly all = new Set<Conn>();
  /** Authenticated sockets by device. */
  private readonly conns = new ConnIndex();
  private readonly out: LiveOutput;
  private readonly relay: LiveRelay;
  private puller: LivePuller | undefined; // several processes share the mailbox: pullFromMailbox()
  private presence: Pick<ClusterRelay, "add" | "remove"> | undefined; // ...and relay frames: joinCluster()
  /** Upgrade requests whose Authorization header is being checked. */
  private upgrading = 0;
  /** In-process links in `all` (the bridge's own accounts), outside max_connections. */
  private locals = 0;
  private closing = false;
  private readonly pingTimer: NodeJS.Timeout;

  constructor(o: LiveOptions) {
    this.auth = o.auth;
    this.store = o.store;
    this.metrics = o.metrics;
    this.log = o.log;
    this.maxConnections = o.maxConnections;
    this.authTimeoutMs = o.authTimeoutMs ?? 10_000;
    this.out = new LiveOutput(o.metrics, o.log);
    this.relay = new LiveRelay({ conns: this.conns, out: this.out, log: o.log, forwarder: o.forwarder });
    this.wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: o.maxFrameBytes ?? 128 * 1024,
      // Bound the work a client can cause with many tiny fragments or TLS records.
      maxFragments: 128,
      maxBufferedChunks: 4096,
    });
    this.pingTimer = setInterval(() => heartbeat(this.all), o.pingIntervalMs ?? 30_000);
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

  /** In-process attach point: a link (net/in-process-wire.ts) authed as an upgrade, served as a socket. */
  async attachInProcess(authorization: string, wire: LiveWire): Promise<void> {
    const who = await this.auth.authenticate(authorization, Date.now());
    if (this.closing) throw new PeopleError("PEOPLE_UNAVAILABLE", "the server is stopping");
    this.accept(wire, who, true);
  }

  /** Push a stored envelope to every open socket of the devices it is for: O(devices). */
  envelopeStored(address: string, devices: readonly string[], envelope: StoredEnvelope): void {
    if (this.puller) return this.puller.hint(address, devices);
    try {
      let frame: Buffer | undefined;
      for (const device of devices) {
        for (const c of this.conns.of(address, device)) {
          if (holdDuringCatchUp(c, envelope)) continue;
          frame ??= envelopeFrame(envelope);
          this.out.pushEnvelope(c, frame);
        }
      }
    } catch (err) {
      // The envelope is stored: a failed push must never fail the ingest.
      this.log.warn(logErr(err), "live: push failed");
    }
  }

  /** Several processes share the mailbox: from now on pushes re-read it on hints (live-pull.ts). */
  pullFromMailbox(): LivePuller {
    const { conns, all, out } = this;
    return (this.puller ??= new LivePuller({ conns, all, mailbox: this.store.mailbox, out }));
  }

  /** Several processes serve the domain: sockets are registered for, and relay frames go to, the others. */
  joinCluster(cluster: Pick<ClusterRelay, "add" | "remove" | "forwardMany">): void {
    this.presence = cluster;
    this.relay.siblings = cluster;
  }

  /**
   * A relay frame from a device of another server (already verified by
   * RelayService): send it to every open socket of `to`. False when none is open.
   */
  deliverRelay(to: RelayEndpoint, from: RelayEndpoint, session: string, data: string): boolean {
    return this.relay.deliver(to, from, session, data, undefined) > 0;
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
    return this.closing || this.all.size - this.locals + this.upgrading >= this.maxConnections;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, who: AuthedDevice | undefined): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      socket.removeListener("error", ignoreSocketError);
      this.accept(ws, who);
    });
  }

  private accept(ws: LiveWire, who: AuthedDevice | undefined, local = false): void {
    const c = new Conn(ws, local);
    this.all.add(c);
    if (local) this.locals++;
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
    if (c.local) this.locals--;
    this.metrics.liveConnections.dec();
    if (c.authTimer) clearTimeout(c.authTimer);
    c.authTimer = undefined;
    c.buffer = null;
    if (c.state >= State.CatchingUp) {
      this.conns.remove(c);
      this.presence?.remove(c.address, c.device);
    }
  }

  /** Authenticated: index the socket, say ready, and send the mailbox. */
  private start(c: Conn, who: AuthedDevice): void {
    c.state = State.CatchingUp;
    c.address = who.address;
    c.device = who.device;
    c.buffer = [];
    const registered = this.presence?.add(who.address, who.device);
    if (!registered) return this.ready(c, who);
    // Ready once the other processes can route relay frames here (catch-up reads
    // the mailbox after, so mail stored meanwhile is not missed).
    registered.then(
      () => (this.all.has(c) ? this.ready(c, who) : undefined),
      (err: unknown) => this.out.fail(c, err, "cluster registration failed"),
    );
  }

  private ready(c: Conn, who: AuthedDevice): void {
    this.conns.add(c);
    this.out.send(c, JSON.stringify({ type: "ready", address: who.address, device: who.device }));
    catchUp(c, this.store.mailbox, this.out).catch((err: unknown) =>
      this.out.fail(c, err, "catch-up failed"),
    );
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
      return this.out.fail(c, err, "frame handling failed");
    }
    this.handle(c, frame).catch((err: unknown) => this.out.fail(c, err, `${frame.type} failed`));
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
        return this.relay.pong(c);
      case "ack": {
        const count = await this.store.mailbox.ack(c.address, c.device, frame.ids);
        return this.out.send(c, JSON.stringify({ type: "acked", count }));
      }
      case "relay":
        return this.relay.relay(c, frame);
    }
  }

  private malformed(c: Conn, detail: string, code: ErrorCode = "PEOPLE_BAD_REQUEST"): void {
    if (++c.malformed > MAX_MALFORMED) {
      c.ws.close(1008, "too many malformed frames");
      return;
    }
    this.out.send(c, errorFrame(code, detail));
  }

  private unauthorized(c: Conn): void {
    c.state = State.AwaitingAuth;
    c.ws.close(4401, "unauthorized");
  }
}
