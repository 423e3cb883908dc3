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
// The keys and the frame format are protocol: src/people/protocol/realtime-keys.ts
// and frame-cipher.ts. One session's state machine is realtime-session.ts.
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
import { PeopleError } from "../errors.js";
import { parseAddress, type PeopleAddress } from "../protocol/address.js";
import { b64u, fromB64u } from "../protocol/bytes.js";
import { newMessageId, parseMessageId, type DeviceId } from "../protocol/ids.js";
import { isDirectEndpoint } from "../protocol/messages.js";
import { X25519KeyPair, X25519PublicKey } from "../protocol/keys.js";
import type { Account } from "./account.js";
import type { Directory } from "./directory.js";
import { Emitter } from "./emitter.js";
import type { InboxEntry } from "./local-store.js";
import type { RelayFrame } from "./live-socket.js";
import { RelayPath } from "./realtime-relay.js";
import { RtSession, type RtSessionHost } from "./realtime-session.js";
import type {
  AcceptOptions,
  CallOptions,
  HangupReason,
  IncomingCall,
  LiveLink,
  PendingOffer,
  RealtimeEvents,
} from "./realtime-types.js";
import type { TargetedSender } from "./targeted-send.js";

export { RtSession } from "./realtime-session.js";
export type * from "./realtime-types.js";

/** Offers, answers and hangups are worth nothing after this. */
const SIGNAL_TTL_MS = 2 * 60 * 1000;
const FRAME_TTL_MS = 60 * 60 * 1000;
const DEFAULT_CALL_TIMEOUT_MS = 60_000;
const DEFAULT_HELLO_TIMEOUT_MS = 30_000;
/** Device lists fetched this recently are reused for frames sent as envelopes. */
const FRAME_KEYS_MAX_AGE_MS = 60_000;

export class Realtime {
  readonly events = new Emitter<RealtimeEvents>();
  private readonly active = new Map<string, RtSession>();
  private readonly offers = new Map<string, PendingOffer>();
  private readonly host: RtSessionHost;
  private readonly relayPath: RelayPath;
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
    this.relayPath = new RelayPath(o.live, () => this.active.values());
    this.host = {
      relay: (s, frame) => this.relayPath.send(s, frame),
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
    this.relayPath.pong();
  }

  liveChanged(ready: boolean): void {
    this.relayPath.liveChanged(ready);
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
        const eph = c.eph;
        if (c.media !== "data" || c.eph === undefined) {
          // Calls are the Calls manager's (calls/calls.ts); one that reaches here has none: say so.
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
          eph: X25519PublicKey.fromB64u(eph!),
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
        // A call's answer (no eph) to a data offer: the session cannot start.
        if (c.eph === undefined) return s.terminate("failed", false, true);
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
