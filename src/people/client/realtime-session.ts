// One realtime session's state machine (calling → connecting → open →
// closed): its keys, the transport it sends on (direct, relay, envelope; see
// realtime.ts for how one is chosen), hello and bye, and the failover from the
// relay to envelopes. The manager (realtime.ts) creates it and carries its
// signals.
import { WebSocket, WebSocketServer, type RawData } from "ws";
import sodium from "sodium-native";
import { PeopleError } from "../errors.js";
import { FrameCipher, KIND_BYE, KIND_DATA, KIND_HELLO, MAX_FRAME_DATA } from "../protocol/frame-cipher.js";
import type { DeviceId } from "../protocol/ids.js";
import type { Ed25519PublicKey, X25519KeyPair, X25519PublicKey } from "../protocol/keys.js";
import type { PeopleAddress } from "../protocol/address.js";
import { deriveSessionKeys, rtTranscript, type RtIdentity } from "../protocol/realtime-keys.js";
import { deferred } from "../../shared/deferred.js";
import { Emitter } from "./emitter.js";
import { connectDirect, listenDirect, MAX_UNBOUND, toBuffer, UNBOUND_MS } from "./realtime-direct.js";
import {
  HANGUP_REASONS,
  type HangupReason,
  type RtMedia,
  type RtPeer,
  type RtSessionEvents,
  type RtState,
  type RtTransport,
} from "./realtime-types.js";
import { errorCode } from "../transient.js";

/** What a session needs from the realtime manager. */
export interface RtSessionHost {
  relay(s: RtSession, frame: Buffer): boolean;
  envelope(s: RtSession, frame: Buffer): Promise<void>;
  hangup(s: RtSession, reason: HangupReason): Promise<void>;
  forget(s: RtSession): void;
}

export class RtSession {
  readonly events = new Emitter<RtSessionEvents>();
  state: RtState;
  /** How this side sends; undefined until chosen. */
  transport: RtTransport | undefined;
  readonly stats = { sent: 0, received: 0, rejected: 0 };
  /** Callee: the address its direct listener is bound to (what is advertised unless `advertise` says otherwise). */
  listening: string | undefined;
  /** Relayed frames the server has not confirmed yet, with the ping generation that will confirm them. */
  unconfirmed: { frame: Buffer; gen: number }[] = [];
  private cipher: FrameCipher | undefined;
  private eph: X25519KeyPair | undefined;
  private direct: WebSocket | undefined;
  private listener: WebSocketServer | undefined;
  private pendingOut: Buffer[] = [];
  private envelopes: Promise<void> = Promise.resolve();
  /** Resolved when this side may seal data frames (the caller: after its hello). */
  private readonly sendable = deferred();
  private readonly opened = deferred();
  private readonly timers = new Set<NodeJS.Timeout>();
  readonly ephPublic: X25519PublicKey;

  constructor(
    private readonly host: RtSessionHost,
    readonly id: string,
    readonly role: "caller" | "callee",
    readonly media: RtMedia,
    readonly peer: RtPeer,
    readonly own: { address: PeopleAddress; device: DeviceId; signKey: Ed25519PublicKey },
    eph: X25519KeyPair,
  ) {
    this.eph = eph;
    this.ephPublic = eph.publicKey;
    this.state = role === "caller" ? "calling" : "connecting";
  }

  on<K extends keyof RtSessionEvents>(event: K, listener: (value: RtSessionEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  /** Resolves when frames can flow (see the `open` event); rejects if the session ends first. */
  whenOpen(): Promise<void> {
    return this.opened.promise;
  }

  /** Send one frame of at most MAX_FRAME_DATA bytes; frames arrive in order or not at all. */
  async send(data: Buffer): Promise<void> {
    if (!Buffer.isBuffer(data)) throw new PeopleError("PEOPLE_BAD_REQUEST", "data must be a Buffer");
    if (data.length > MAX_FRAME_DATA)
      throw new PeopleError("PEOPLE_TOO_LARGE", `a frame carries at most ${MAX_FRAME_DATA} bytes`);
    if (this.closed) throw closedError();
    await this.sendable.promise;
    if (this.closed || !this.cipher) throw closedError();
    const frame = this.cipher.seal(KIND_DATA, data);
    this.stats.sent++;
    await this.transmit(frame);
  }

  /** End the session: the peer is told (rt_hangup, and a bye frame where a live path exists); keys are zeroed. */
  async hangup(reason: HangupReason = "normal"): Promise<void> {
    if (!HANGUP_REASONS.includes(reason))
      throw new PeopleError("PEOPLE_BAD_REQUEST", "unknown hangup reason");
    await this.terminate(reason, false, true);
  }

  /**
   * The session's key buffers themselves (the two direction keys), for tests
   * that check they are zero after the session ended. Never log or store them.
   */
  exposeKeysForTesting(): readonly Buffer[] {
    return this.cipher ? this.cipher.keys : [];
  }

  // --- internal (the realtime manager) ---

  /** Derive the keys from the peer's ephemeral key; the own ephemeral secret is erased. */
  establish(peerEph: X25519PublicKey, caller: RtIdentity, callee: RtIdentity): void {
    const eph = this.eph;
    if (!eph) throw closedError();
    const transcript = rtTranscript({
      session: this.id,
      media: this.media,
      caller,
      callee,
      callerEph: this.role === "caller" ? this.ephPublic.raw : peerEph.raw,
      calleeEph: this.role === "caller" ? peerEph.raw : this.ephPublic.raw,
    });
    let shared: Buffer | undefined;
    try {
      shared = eph.dh(peerEph);
      const { c2s, s2c } = deriveSessionKeys(shared, transcript);
      const session = Buffer.from(this.id, "base64url");
      this.cipher =
        this.role === "caller"
          ? new FrameCipher(session, c2s, s2c, 0)
          : new FrameCipher(session, s2c, c2s, 1);
    } finally {
      if (shared) sodium.sodium_memzero(shared);
      eph.erase();
      this.eph = undefined;
    }
    if (this.role === "callee") this.sendable.resolve();
  }

  /** Caller, after the answer: try the advertised direct endpoint, else relay; then say hello. */
  async start(direct: string | undefined): Promise<void> {
    this.state = "connecting";
    let transport: RtTransport = "relay";
    if (direct) {
      try {
        const ws = await connectDirect(direct);
        if (this.closed) {
          ws.terminate();
          return;
        }
        this.bindDirect(ws);
        transport = "direct";
      } catch {
        // Not reachable from here: relay instead.
      }
    }
    if (this.closed || !this.cipher) return;
    this.transport = transport;
    this.events.emit("transport", { transport });
    const hello = this.cipher.seal(KIND_HELLO, Buffer.alloc(0));
    this.sendable.resolve();
    this.markOpen();
    await this.transmit(hello);
  }

  /** Callee: listen for the caller's direct connection; returns the URL to advertise. */
  async listen(o: {
    host: string;
    port: number;
    advertise?: string;
    helloTimeoutMs: number;
  }): Promise<string> {
    const { wss, url } = await listenDirect(o.host, o.port);
    if (this.closed) {
      wss.close();
      throw closedError();
    }
    this.listener = wss;
    wss.on("connection", (ws) => {
      ws.on("error", () => undefined);
      if (this.direct || this.closed || wss.clients.size > MAX_UNBOUND) {
        ws.terminate();
        return;
      }
      // A connection that does not say hello soon is dropped.
      const idle = setTimeout(() => this.direct !== ws && ws.terminate(), UNBOUND_MS);
      idle.unref();
      ws.once("close", () => clearTimeout(idle));
      // Until a frame opens as the caller's hello, this connection is nobody.
      ws.on("message", (data: RawData, isBinary: boolean) => {
        if (!isBinary) {
          ws.terminate();
          return;
        }
        const frame = toBuffer(data);
        if (this.direct === ws) this.receive(frame, "direct");
        else if (this.direct || !this.receive(frame, "direct", ws)) ws.terminate();
      });
    });
    this.listening = url;
    const timer = setTimeout(() => this.closeListener(), o.helloTimeoutMs);
    timer.unref();
    this.timers.add(timer);
    return o.advertise ?? this.listening;
  }

  /** Callee: no hello in time. */
  expectHello(timeoutMs: number): void {
    this.timer(timeoutMs, () => {
      if (this.state !== "open") void this.terminate("timeout", false, true);
    });
  }

  timer(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  /**
   * A frame from a transport; `candidate` is a direct connection not bound yet.
   * Returns true when the frame opened (and, for a candidate, bound it).
   */
  receive(frame: Buffer, via: RtTransport, candidate?: WebSocket): boolean {
    if (this.closed || !this.cipher) return false;
    let opened: { kind: number; payload: Buffer };
    try {
      opened = this.cipher.open(frame);
    } catch (e) {
      this.stats.rejected++;
      this.events.emit("rejected", {
        code: errorCode(e),
        detail: e instanceof Error ? e.message : String(e),
        via,
      });
      return false;
    }
    // A direct connection not bound yet is bound by the caller's hello only.
    const fine = candidate === undefined;
    switch (opened.kind) {
      case KIND_HELLO:
        if (this.role !== "callee" || this.transport !== undefined) return fine;
        if (candidate) this.bindDirect(candidate);
        this.useTransport(via === "direct" ? "direct" : "relay");
        this.markOpen();
        return true;
      case KIND_DATA:
        this.stats.received++;
        this.events.emit("data", Buffer.from(opened.payload));
        return fine;
      case KIND_BYE: {
        const text = opened.payload.toString("utf8");
        void this.terminate(HANGUP_REASONS.includes(text) ? (text as HangupReason) : "normal", true, false);
        return fine;
      }
      default:
        return fine;
    }
  }

  /** The relay refused or lost frames: from now on, and for what it did not confirm, envelopes. */
  failover(): void {
    if (this.closed || this.transport !== "relay") return;
    this.transport = "envelope";
    this.events.emit("transport", { transport: "envelope" });
    const resend = this.unconfirmed.splice(0).map((u) => u.frame);
    for (const frame of resend) void this.viaEnvelope(frame);
  }

  async terminate(reason: HangupReason, remote: boolean, notify: boolean): Promise<void> {
    if (this.closed) return;
    const wasLive = this.cipher !== undefined && (this.transport === "direct" || this.transport === "relay");
    // A bye frame is quicker than the envelope where a live path exists; it must be sealed before the keys go.
    if (notify && wasLive) {
      try {
        const bye = this.cipher!.seal(KIND_BYE, Buffer.from(reason, "utf8"));
        if (this.transport === "direct") this.direct?.send(bye);
        else this.host.relay(this, bye);
      } catch {
        // The envelope below tells the peer anyway.
      }
    }
    this.state = "closed";
    this.cipher?.erase();
    this.eph?.erase();
    this.eph = undefined;
    this.pendingOut = [];
    this.unconfirmed = [];
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.closeListener();
    this.direct?.close(1000);
    this.direct = undefined;
    this.sendable.reject(closedError());
    this.opened.reject(closedError());
    this.host.forget(this);
    this.events.emit("close", { reason, remote });
    if (notify) await this.host.hangup(this, reason).catch(() => undefined);
  }

  /** Read through a getter, so a check after an await is not narrowed away by the compiler. */
  get closed(): boolean {
    return this.state === "closed";
  }

  private markOpen(): void {
    if (this.closed) return;
    this.state = "open";
    this.opened.resolve();
    this.events.emit("open", { transport: this.transport! });
  }

  private useTransport(transport: RtTransport): void {
    this.transport = transport;
    this.events.emit("transport", { transport });
    this.closeListener();
    for (const frame of this.pendingOut.splice(0)) void this.transmit(frame);
  }

  /** Hand a sealed frame to the current transport, synchronously for the live ones (order is kept). */
  private transmit(frame: Buffer): Promise<void> {
    switch (this.transport) {
      case undefined:
        this.pendingOut.push(frame);
        return Promise.resolve();
      case "direct":
        if (this.direct?.readyState !== WebSocket.OPEN) return Promise.reject(closedError());
        this.direct.send(frame);
        return Promise.resolve();
      case "relay":
        if (this.host.relay(this, frame)) return Promise.resolve();
        this.failover();
        return this.viaEnvelope(frame);
      case "envelope":
        return this.viaEnvelope(frame);
    }
  }

  private viaEnvelope(frame: Buffer): Promise<void> {
    // One after another, so the outbox queues them in counter order.
    this.envelopes = this.envelopes.then(async () => {
      if (this.closed) return;
      try {
        await this.host.envelope(this, frame);
      } catch {
        // A frame that cannot be sent leaves a gap the peer would wait on forever.
        await this.terminate("failed", false, true);
      }
    });
    return this.envelopes;
  }

  private bindDirect(ws: WebSocket): void {
    this.direct = ws;
    ws.on("error", () => undefined);
    if (this.role === "caller") {
      ws.on("message", (data: RawData, isBinary: boolean) => {
        if (isBinary) this.receive(toBuffer(data), "direct");
      });
    }
    ws.on("close", () => {
      if (this.direct === ws && !this.closed) {
        this.direct = undefined;
        // A direct path that broke mid-session is not migrated: the session ends.
        void this.terminate("failed", false, true);
      }
    });
  }

  private closeListener(): void {
    const wss = this.listener;
    this.listener = undefined;
    if (!wss) return;
    // Stops accepting; the bound connection, if any, stays open.
    for (const ws of wss.clients) if (ws !== this.direct) ws.terminate();
    wss.close();
  }
}

export function closedError(): PeopleError {
  return new PeopleError("PEOPLE_BAD_REQUEST", "the session is closed");
}
