// Realtime sessions (DESIGN §2 "Realtime"): a data session between two
// devices, keyed by an ephemeral X25519 exchange bound to both devices.
//
// Signalling travels in sealed envelopes signed by the device keys
// (PROTOCOL §9, §11): `rt_offer` {session, eph, media} from the caller's
// device to every device of the callee; `rt_answer` {session, eph, direct?}
// from the device that accepts, to the calling device (and the callee's other
// devices, so they stop ringing); `rt_hangup` {session, reason}. Because the
// ephemeral keys arrive signed by the device keys, only those two devices
// can hold the session keys:
//
//   T   = "people/v1 rt-transcript\0" || session id (16 bytes)
//         || u8 len || media
//         || u8 len || caller address || u8 len || caller device id || caller device signing key (32)
//         || u8 len || callee address || u8 len || callee device id || callee device signing key (32)
//         || caller ephemeral key (32) || callee ephemeral key (32)
//   IKM = X25519(own ephemeral secret, peer's ephemeral key)  (an all-zero result is refused)
//   K_c = HKDF-SHA256(IKM, salt = SHA-256(T), info = "people/v1 rt caller-to-callee", 32)
//   K_r = HKDF-SHA256(IKM, salt = SHA-256(T), info = "people/v1 rt callee-to-caller", 32)
//
// The signing keys in T are those of the certificates that verified the
// offer and the answer. Ephemeral secrets are erased as soon as the keys are
// derived, and the session keys when the session ends (forward secrecy).
//
// Frames (FrameCipher): version 0x01 || u64 counter || ChaCha20-Poly1305-IETF(
//   key = the sender's direction key, nonce = 4 zero bytes || u64 counter,
//   aad = "people/v1 rt-frame\0" || session id (16) || u8 direction (0 caller→callee,
//         1 callee→caller) || the 9-byte frame header,
//   plaintext = u8 kind || payload)   kind 0 data, 1 hello, 2 bye (payload: the reason).
// Counters start at 0 per direction and a receiver accepts exactly the next
// one: a replayed frame (lower counter), a reordered or lost one (higher), or
// a forged or altered one (the tag) is rejected and changes nothing.
//
// Transports, chosen once per direction:
// - direct: the callee may listen on a WebSocket (`accept(id, {listen})`)
//   and advertise it in its answer's `direct` ("ws://host:port");
//   the caller connects and its first frame is `hello`. Plain ws:// (no TLS)
//   is acceptable ONLY because every frame is already sealed end to end with
//   the session keys: the connection itself carries no authority; a
//   connection whose first frame does not open under the session key is
//   dropped. The network sees addresses, timing and sizes.
// - relay: through the servers' live WebSockets (`relay` frames, PROTOCOL
//   §17.4). A ping after each burst tells which frames the server took: a
//   frame is confirmed by the pong (the server answers a ping only once the
//   frames before it were delivered, also those it forwarded to the peer's
//   server), and an error for the session (the peer device is not connected,
//   or its server cannot be reached: PEOPLE_UNAVAILABLE) or a dropped socket
//   switches the session to:
// - envelope: store-and-forward, each frame in its own sealed envelope to the
//   peer device, resending the frames the relay did not confirm. Slower (a
//   seal, an HTTPS POST and a mailbox push per frame) but it works across
//   servers and while the peer is offline. Each frame is one `rt_frame`
//   {session, frame: base64url(frame)}.
// The caller says `hello` on the transport it picked; the callee answers on
// the same kind (direct, or relay with the same fallback).
import { hkdfSync } from "node:crypto";
import type { AddressInfo } from "node:net";
import sodium from "sodium-native";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import { PeopleError, type ErrorCode } from "../errors.js";
import { parseAddress, type PeopleAddress } from "../protocol/address.js";
import { b64u, fromB64u, u64 } from "../protocol/bytes.js";
import { aeadOpen, aeadSeal } from "../protocol/hpke.js";
import { newMessageId, parseMessageId, type DeviceId } from "../protocol/ids.js";
import { isDirectEndpoint } from "../protocol/messages.js";
import { X25519KeyPair, X25519PublicKey, type Ed25519PublicKey } from "../protocol/keys.js";
import { sha256 } from "../protocol/signing.js";
import type { Account } from "./account.js";
import type { Directory } from "./directory.js";
import { Emitter } from "./emitter.js";
import type { InboxEntry } from "./local-store.js";
import type { RelayFrame } from "./live-socket.js";
import type { TargetedSender } from "./targeted-send.js";
import { errorCode } from "./transient.js";

export type RtMedia = "data";
export type RtTransport = "direct" | "relay" | "envelope";
export type HangupReason = "normal" | "busy" | "declined" | "failed" | "timeout";
const REASONS: readonly string[] = ["normal", "busy", "declined", "failed", "timeout"];

/** Largest payload of one `send`. A sealed frame is 26 bytes more; it fits a relay frame and an envelope. */
export const MAX_FRAME_DATA = 32 * 1024;
const MAX_WIRE_FRAME = 64 * 1024;
const FRAME_VERSION = 1;
const FRAME_HEADER = 9;
const KIND_DATA = 0;
const KIND_HELLO = 1;
const KIND_BYE = 2;
/** Offers, answers and hangups are worth nothing after this. */
const SIGNAL_TTL_MS = 2 * 60 * 1000;
const FRAME_TTL_MS = 60 * 60 * 1000;
const DIRECT_CONNECT_MS = 3_000;
/** A direct listener holds at most this many connections that have not said hello, each for this long. */
const MAX_UNBOUND = 8;
const UNBOUND_MS = 5_000;
const DEFAULT_CALL_TIMEOUT_MS = 60_000;
const DEFAULT_HELLO_TIMEOUT_MS = 30_000;
/** Device lists fetched this recently are reused for frames sent as envelopes. */
const FRAME_KEYS_MAX_AGE_MS = 60_000;

const TRANSCRIPT_PREFIX = Buffer.from("people/v1 rt-transcript\0", "utf8");
const FRAME_AAD_PREFIX = Buffer.from("people/v1 rt-frame\0", "utf8");
export const INFO_CALLER_TO_CALLEE = "people/v1 rt caller-to-callee";
export const INFO_CALLEE_TO_CALLER = "people/v1 rt callee-to-caller";

// --- keys and frames ---------------------------------------------------------

export interface RtIdentity {
  address: string;
  device: string;
  /** The Ed25519 signing key whose certificate verified the device's offer or answer. */
  signKey: Buffer;
}

function lengthPrefixed(text: string): Buffer {
  const b = Buffer.from(text, "utf8");
  if (b.length > 255) throw new PeopleError("PEOPLE_BAD_REQUEST", "transcript field too long");
  return Buffer.concat([Buffer.from([b.length]), b]);
}

/** The session transcript T (see the top of this file). */
export function rtTranscript(o: {
  session: string;
  media: string;
  caller: RtIdentity;
  callee: RtIdentity;
  callerEph: Buffer;
  calleeEph: Buffer;
}): Buffer {
  const id = Buffer.from(o.session, "base64url");
  if (id.length !== 16) throw new PeopleError("PEOPLE_BAD_REQUEST", "session id is not 16 bytes");
  const party = (p: RtIdentity): Buffer[] => [lengthPrefixed(p.address), lengthPrefixed(p.device), p.signKey];
  return Buffer.concat([
    TRANSCRIPT_PREFIX,
    id,
    lengthPrefixed(o.media),
    ...party(o.caller),
    ...party(o.callee),
    o.callerEph,
    o.calleeEph,
  ]);
}

/** The two direction keys from the X25519 shared secret and the transcript. */
export function deriveSessionKeys(sharedSecret: Buffer, transcript: Buffer): { c2s: Buffer; s2c: Buffer } {
  const salt = sha256(transcript);
  const key = (info: string) => Buffer.from(hkdfSync("sha256", sharedSecret, salt, info, 32));
  return { c2s: key(INFO_CALLER_TO_CALLEE), s2c: key(INFO_CALLEE_TO_CALLER) };
}

/** Seals and opens one session's frames: counter nonces, strict order, keys zeroed by erase(). */
export class FrameCipher {
  private sendCounter = 0;
  private recvNext = 0;
  private erased = false;

  constructor(
    private readonly session: Buffer,
    private readonly sendKey: Buffer,
    private readonly recvKey: Buffer,
    /** 0: this side is the caller; 1: the callee. */
    private readonly sendDirection: 0 | 1,
  ) {}

  seal(kind: number, payload: Uint8Array): Buffer {
    if (this.erased) throw new PeopleError("PEOPLE_BAD_REQUEST", "the session is closed");
    const counter = this.sendCounter++;
    const header = Buffer.concat([Buffer.from([FRAME_VERSION]), u64(counter)]);
    const plaintext = Buffer.concat([Buffer.from([kind]), payload]);
    const sealed = aeadSeal(this.sendKey, nonceOf(counter), this.aad(this.sendDirection, header), plaintext);
    return Buffer.concat([header, sealed]);
  }

  open(frame: Buffer): { kind: number; payload: Buffer; counter: number } {
    if (this.erased) throw new PeopleError("PEOPLE_BAD_REQUEST", "the session is closed");
    if (frame.length < FRAME_HEADER + 1 + 16 || frame.length > MAX_WIRE_FRAME || frame[0] !== FRAME_VERSION)
      throw new PeopleError("PEOPLE_BAD_ENVELOPE", "malformed frame");
    const big = frame.readBigUInt64BE(1);
    if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new PeopleError("PEOPLE_BAD_ENVELOPE", "frame counter");
    const counter = Number(big);
    if (counter < this.recvNext)
      throw new PeopleError("PEOPLE_REPLAYED", `frame ${counter} was received before`);
    if (counter > this.recvNext)
      throw new PeopleError(
        "PEOPLE_BAD_ENVELOPE",
        `frame ${counter} out of order (expected ${this.recvNext})`,
      );
    const header = frame.subarray(0, FRAME_HEADER);
    const plain = aeadOpen(
      this.recvKey,
      nonceOf(counter),
      this.aad(this.sendDirection === 0 ? 1 : 0, header),
      frame.subarray(FRAME_HEADER),
    );
    if (plain.length < 1) throw new PeopleError("PEOPLE_BAD_ENVELOPE", "empty frame");
    this.recvNext++;
    return { kind: plain[0]!, payload: plain.subarray(1), counter };
  }

  /** The direction keys themselves (not copies): [send, receive]. */
  get keys(): readonly Buffer[] {
    return [this.sendKey, this.recvKey];
  }

  erase(): void {
    this.erased = true;
    sodium.sodium_memzero(this.sendKey);
    sodium.sodium_memzero(this.recvKey);
  }

  private aad(direction: number, header: Buffer): Buffer {
    return Buffer.concat([FRAME_AAD_PREFIX, this.session, Buffer.from([direction]), header]);
  }
}

function nonceOf(counter: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(counter), 4);
  return nonce;
}

// --- sessions ----------------------------------------------------------------

export interface RtPeer {
  address: PeopleAddress;
  /** The peer device; for a call not answered yet, undefined (every device of the callee rings). */
  device: DeviceId | undefined;
}

export interface RtSessionEvents {
  /** Frames can flow: the caller picked its transport and said hello, or the callee heard it. */
  open: { transport: RtTransport };
  /** This side now sends over `transport` (e.g. relay gave way to envelopes). */
  transport: { transport: RtTransport };
  data: Buffer;
  /** A frame that was refused: altered or forged, replayed, reordered. */
  rejected: { code: ErrorCode; detail: string; via: RtTransport };
  close: { reason: HangupReason; remote: boolean };
}

export type RtState = "calling" | "connecting" | "open" | "closed";

/** What a session needs from the realtime manager. */
interface Host {
  relay(s: RtSession, frame: Buffer): boolean;
  envelope(s: RtSession, frame: Buffer): Promise<void>;
  hangup(s: RtSession, reason: HangupReason): Promise<void>;
  forget(s: RtSession): void;
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
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
    private readonly host: Host,
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
    if (!REASONS.includes(reason)) throw new PeopleError("PEOPLE_BAD_REQUEST", "unknown hangup reason");
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
    const wss = new WebSocketServer({
      host: o.host,
      port: o.port,
      perMessageDeflate: false,
      maxPayload: MAX_WIRE_FRAME,
    });
    this.listener = wss;
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", resolve);
      wss.once("error", reject);
    });
    wss.on("error", () => undefined);
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
    const port = (wss.address() as AddressInfo).port;
    this.listening = `ws://${o.host.includes(":") ? `[${o.host}]` : o.host}:${port}`;
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
        void this.terminate(REASONS.includes(text) ? (text as HangupReason) : "normal", true, false);
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

function closedError(): PeopleError {
  return new PeopleError("PEOPLE_BAD_REQUEST", "the session is closed");
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function connectDirect(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      perMessageDeflate: false,
      maxPayload: MAX_WIRE_FRAME,
      handshakeTimeout: DIRECT_CONNECT_MS,
      followRedirects: false,
    });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
    ws.once("close", () => reject(new PeopleError("PEOPLE_UNAVAILABLE", "direct connection closed")));
  });
}

// --- the manager -------------------------------------------------------------

export interface IncomingCall {
  session: string;
  from: PeopleAddress;
  device: DeviceId;
  media: RtMedia;
  /** When the caller signed the offer. */
  ts: number;
}

export interface RealtimeEvents {
  /** Someone calls this device: accept() or decline() it. */
  offer: IncomingCall;
  /** An incoming call went away before this device answered: cancelled, expired, or handled on another device. */
  offerEnded: { session: string; from: string; reason: string };
  error: { where: string; error: unknown };
}

export interface CallOptions {
  media?: RtMedia;
  /** Hang up with "timeout" when nobody answered in this time (default 60 s). */
  timeoutMs?: number;
  /** Connect to a direct endpoint the callee advertises (default true). */
  direct?: boolean;
}

export interface AcceptOptions {
  /** Listen for a direct connection here (port 0: any); the address goes into the answer. */
  listen?: { host: string; port: number };
  /** Advertise this ws://host:port (or wss://) URL instead of the listening address (e.g. behind a port mapping). */
  advertise?: string;
  /** End the session when the caller has not said hello in this time (default 30 s). */
  helloTimeoutMs?: number;
}

/** The live socket as realtime uses it. */
export interface LiveLink {
  readonly ready: boolean;
  send(frame: object): boolean;
}

interface PendingOffer extends IncomingCall {
  eph: X25519PublicKey;
  signKey: Ed25519PublicKey;
  exp: number;
}

export class Realtime {
  readonly events = new Emitter<RealtimeEvents>();
  private readonly active = new Map<string, RtSession>();
  private readonly offers = new Map<string, PendingOffer>();
  /** Pings sent and pongs received on the current live socket; a pong confirms the frames relayed before its ping. */
  private pingsSent = 0;
  private pongs = 0;
  private pingScheduled = false;
  private readonly host: Host;
  /** Whether a call may connect to a direct endpoint its callee advertises. */
  private readonly directFor = new WeakMap<RtSession, boolean>();

  constructor(
    private readonly o: {
      account: Account;
      directory: Directory;
      sender: TargetedSender;
      live: LiveLink;
      now: () => number;
    },
  ) {
    this.host = {
      relay: (s, frame) => this.relay(s, frame),
      envelope: (s, frame) => this.sendFrameEnvelope(s, frame),
      hangup: (s, reason) => this.sendHangup(s, reason),
      forget: (s) => {
        if (this.active.get(s.id) === s) this.active.delete(s.id);
      },
    };
  }

  on<K extends keyof RealtimeEvents>(event: K, listener: (value: RealtimeEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  /** Call `address`: an offer goes to every device of it; the session opens when one answers. */
  async call(address: string, o: CallOptions = {}): Promise<RtSession> {
    const to = parseAddress(address);
    const media = o.media ?? "data";
    if (media !== "data")
      throw new PeopleError(
        "PEOPLE_BAD_REQUEST",
        "only data sessions exist yet (voice and video need WebRTC)",
      );
    const identity = this.o.account.identity;
    const eph = X25519KeyPair.generate();
    const session = new RtSession(
      this.host,
      newMessageId(),
      "caller",
      media,
      { address: to, device: undefined },
      { address: this.o.account.address, device: identity.device, signKey: identity.signingKey.publicKey },
      eph,
    );
    this.directFor.set(session, o.direct !== false);
    this.active.set(session.id, session);
    try {
      await this.o.sender.send({
        to,
        content: { type: "rt_offer", session: session.id, eph: eph.publicKey.toB64u(), media },
        ttlMs: SIGNAL_TTL_MS,
      });
    } catch (e) {
      await session.terminate("failed", false, false);
      throw e;
    }
    session.timer(o.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS, () => {
      if (session.state === "calling") void session.terminate("timeout", false, true);
    });
    return session;
  }

  /** Calls ringing on this device. */
  incoming(): IncomingCall[] {
    const now = this.o.now();
    return [...this.offers.values()]
      .filter((x) => x.exp > now)
      .map(({ session, from, device, media, ts }) => ({ session, from, device, media, ts }));
  }

  sessions(): RtSession[] {
    return [...this.active.values()];
  }

  /** Answer an incoming call; the session opens when the caller's hello arrives. */
  async accept(sessionId: string, o: AcceptOptions = {}): Promise<RtSession> {
    const offer = this.takeOffer(sessionId);
    const identity = this.o.account.identity;
    const session = new RtSession(
      this.host,
      offer.session,
      "callee",
      offer.media,
      { address: offer.from, device: offer.device },
      { address: this.o.account.address, device: identity.device, signKey: identity.signingKey.publicKey },
      X25519KeyPair.generate(),
    );
    this.active.set(session.id, session);
    try {
      session.establish(
        offer.eph,
        { address: offer.from, device: offer.device, signKey: offer.signKey.raw },
        { address: session.own.address, device: session.own.device, signKey: session.own.signKey.raw },
      );
      const helloTimeoutMs = o.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS;
      let direct: string | undefined;
      if (o.listen) {
        if (o.advertise !== undefined && !isDirectEndpoint(o.advertise))
          throw new PeopleError("PEOPLE_BAD_REQUEST", "advertise a ws://host:port or wss://host:port URL");
        direct = await session.listen({
          ...o.listen,
          ...(o.advertise !== undefined ? { advertise: o.advertise } : {}),
          helloTimeoutMs,
        });
        if (!isDirectEndpoint(direct))
          throw new PeopleError("PEOPLE_BAD_REQUEST", `cannot advertise ${direct}: not a ws://host:port URL`);
      }
      await this.o.sender.send({
        to: offer.from,
        devices: [offer.device],
        own: true,
        content: {
          type: "rt_answer",
          session: session.id,
          eph: session.ephPublic.toB64u(),
          ...(direct ? { direct } : {}),
        },
        ttlMs: SIGNAL_TTL_MS,
      });
      session.expectHello(helloTimeoutMs);
    } catch (e) {
      await session.terminate("failed", false, false);
      throw e;
    }
    return session;
  }

  /** Refuse an incoming call; the caller and this account's other devices are told. */
  async decline(sessionId: string, reason: HangupReason = "declined"): Promise<void> {
    const offer = this.takeOffer(sessionId);
    await this.o.sender.send({
      to: offer.from,
      devices: [offer.device],
      own: true,
      content: { type: "rt_hangup", session: offer.session, reason },
      ttlMs: SIGNAL_TTL_MS,
    });
  }

  /** End every session (the client stops). */
  async closeAll(): Promise<void> {
    for (const s of [...this.active.values()]) await s.terminate("failed", false, true);
    this.offers.clear();
  }

  // --- from the receiver and the live socket ---

  /** A verified rt_* message. Never throws: a bad signal must not hold up the mailbox. */
  async signal(m: InboxEntry): Promise<void> {
    try {
      await this.dispatch(m);
    } catch (error) {
      this.events.emit("error", { where: `signal ${m.content.type}`, error });
    }
  }

  relayFrame(f: RelayFrame): void {
    const s = this.active.get(f.session);
    if (!s || f.from.address !== s.peer.address || f.from.device !== s.peer.device) return;
    const frame = fromB64u(f.data);
    if (frame) s.receive(frame, "relay");
  }

  relayError(sessionId: string, code: string): void {
    const s = this.active.get(sessionId);
    if (s && code === "PEOPLE_UNAVAILABLE") s.failover();
  }

  pong(): void {
    this.pongs++;
    for (const s of this.active.values()) {
      if (s.unconfirmed.length > 0) s.unconfirmed = s.unconfirmed.filter((u) => u.gen >= this.pongs);
    }
  }

  liveChanged(ready: boolean): void {
    if (ready) return;
    // Pongs of a closed socket never come: what it did not confirm goes by envelope.
    this.pongs = this.pingsSent;
    for (const s of this.active.values()) if (s.unconfirmed.length > 0) s.failover();
  }

  // --- internals ---

  private takeOffer(sessionId: string): PendingOffer {
    const id = parseMessageId(sessionId, "PEOPLE_BAD_REQUEST");
    const offer = this.offers.get(id);
    this.offers.delete(id);
    if (!offer || offer.exp <= this.o.now())
      throw new PeopleError("PEOPLE_NOT_FOUND", "no such incoming call");
    return offer;
  }

  private async dispatch(m: InboxEntry): Promise<void> {
    const self = this.o.account.address;
    const from = m.from as PeopleAddress;
    const device = m.device as DeviceId;
    const c = m.content;
    switch (c.type) {
      case "rt_offer": {
        if (this.active.has(c.session) || this.offers.has(c.session)) return;
        if (c.media !== "data") {
          // Voice and video need WebRTC, which this client does not have: say so.
          await this.o.sender.send({
            to: from,
            devices: [device],
            content: { type: "rt_hangup", session: c.session, reason: "failed" },
            ttlMs: SIGNAL_TTL_MS,
          });
          return;
        }
        const signKey = await this.o.directory.senderKey(from, device, m.ts);
        const offer: PendingOffer = {
          session: c.session,
          from,
          device,
          media: c.media,
          ts: m.ts,
          eph: X25519PublicKey.fromB64u(c.eph),
          signKey,
          exp: m.exp,
        };
        const now = this.o.now();
        for (const [id, x] of this.offers) if (x.exp <= now) this.offers.delete(id);
        this.offers.set(c.session, offer);
        this.events.emit("offer", { session: c.session, from, device, media: c.media, ts: m.ts });
        return;
      }
      case "rt_answer": {
        const s = this.active.get(c.session);
        if (!s || s.role !== "caller" || s.peer.address !== from) {
          const offer = from === self ? this.offers.get(c.session) : undefined;
          if (offer) {
            // Another device of this account answered.
            this.offers.delete(c.session);
            this.events.emit("offerEnded", {
              session: c.session,
              from: offer.from,
              reason: "answered elsewhere",
            });
          }
          return;
        }
        if (s.state !== "calling") {
          // A second device of the callee answered too late.
          if (s.peer.device !== device)
            await this.o.sender.send({
              to: from,
              devices: [device],
              content: { type: "rt_hangup", session: c.session, reason: "busy" },
              ttlMs: SIGNAL_TTL_MS,
            });
          return;
        }
        const signKey = await this.o.directory.senderKey(from, device, m.ts);
        if (s.state !== "calling") return;
        s.peer.device = device;
        try {
          s.establish(
            X25519PublicKey.fromB64u(c.eph),
            { address: s.own.address, device: s.own.device, signKey: s.own.signKey.raw },
            { address: from, device, signKey: signKey.raw },
          );
        } catch (e) {
          await s.terminate("failed", false, true);
          throw e;
        }
        // `direct` was checked by the schema: ws:// or wss://, a host and a port, nothing else.
        const direct = this.directFor.get(s) !== false ? c.direct : undefined;
        // Not awaited: a direct connection attempt must not hold up the mailbox.
        void s.start(direct).catch((error: unknown) => this.events.emit("error", { where: "start", error }));
        return;
      }
      case "rt_frame": {
        const s = this.active.get(c.session);
        if (!s || s.peer.address !== from || s.peer.device !== device) return;
        const frame = fromB64u(c.frame);
        if (frame) s.receive(frame, "envelope");
        return;
      }
      case "rt_hangup": {
        const offer = this.offers.get(c.session);
        if (offer && (offer.from === from || from === self)) {
          this.offers.delete(c.session);
          const reason = from === self ? `${c.reason} elsewhere` : c.reason;
          this.events.emit("offerEnded", { session: c.session, from: offer.from, reason });
          return;
        }
        const s = this.active.get(c.session);
        if (!s || s.peer.address !== from) return;
        if (s.peer.device !== undefined && s.peer.device !== device) return;
        await s.terminate(c.reason, true, false);
        return;
      }
      default:
        return;
    }
  }

  private relay(s: RtSession, frame: Buffer): boolean {
    if (!s.peer.device) return false;
    const sent = this.o.live.send({
      type: "relay",
      to: { address: s.peer.address, device: s.peer.device },
      session: s.id,
      data: b64u(frame),
    });
    if (!sent) return false;
    s.unconfirmed.push({ frame, gen: this.pingsSent });
    if (!this.pingScheduled) {
      this.pingScheduled = true;
      setImmediate(() => {
        this.pingScheduled = false;
        if (this.o.live.send({ type: "ping" })) this.pingsSent++;
        else this.liveChanged(false);
      });
    }
    return true;
  }

  private async sendFrameEnvelope(s: RtSession, frame: Buffer): Promise<void> {
    if (!s.peer.device) throw new PeopleError("PEOPLE_BAD_REQUEST", "no peer device yet");
    await this.o.sender.send({
      to: s.peer.address,
      devices: [s.peer.device],
      content: { type: "rt_frame", session: s.id, frame: b64u(frame) },
      ttlMs: FRAME_TTL_MS,
      maxAgeMs: FRAME_KEYS_MAX_AGE_MS,
    });
  }

  private async sendHangup(s: RtSession, reason: HangupReason): Promise<void> {
    await this.o.sender.send({
      to: s.peer.address,
      // Not answered yet: every device of the callee is ringing.
      ...(s.peer.device !== undefined ? { devices: [s.peer.device] } : {}),
      content: { type: "rt_hangup", session: s.id, reason },
      ttlMs: SIGNAL_TTL_MS,
      maxAgeMs: FRAME_KEYS_MAX_AGE_MS,
    });
  }
}
