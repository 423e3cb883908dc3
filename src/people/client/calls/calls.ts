// Voice and video calls between devices (PROTOCOL §11.3): the offer rings on
// every device of the callee, the first device to answer wins and the
// others stop ringing (they see the answer's copy), reject, busy, hangup,
// no answer, a call to one's own other devices, and glare (two people call
// each other at once: the offer with the smaller session id survives, on
// both sides, and is answered at once). One call's own state machine is call.ts.
import { PeopleError } from "../../errors.js";
import { parseAddress, type PeopleAddress } from "../../protocol/address.js";
import { newMessageId, parseMessageId, type DeviceId } from "../../protocol/ids.js";
import type { MessageContent } from "../../protocol/messages.js";
import {
  fingerprintHolds,
  formatFingerprint,
  sdpFingerprint,
  splitCandidates,
} from "../../protocol/sdp-fingerprint.js";
import { Emitter } from "../emitter.js";
import type { InboxEntry } from "../local-store.js";
import type { HangupReason } from "../realtime-types.js";
import type { TargetedMessage } from "../targeted-send.js";
import { Call, type CallHost } from "./call.js";
import type { CallMedia, IceServer } from "./media-engine.js";
import type {
  CallsDeps,
  CallsEvents,
  IncomingCall,
  MediaOptions,
  PlaceCallOptions,
  Ringing,
} from "./calls-types.js";
import { withoutExp } from "./calls-types.js";

export { Call } from "./call.js";
export type { CallEndReason, CallEvents, CallState } from "./call.js";
export type * from "./calls-types.js";

const SIGNAL_TTL_MS = 2 * 60 * 1000;
const DEFAULT_RING_MS = 60_000;
/** Answered, but ICE and DTLS did not finish in this time: failed. */
const DEFAULT_CONNECT_MS = 30_000;
/** Device lists fetched this recently are reused for candidates and hangups. */
const KEYS_MAX_AGE_MS = 60_000;

export class Calls {
  readonly events = new Emitter<CallsEvents>();
  private readonly active = new Map<string, Call>();
  private readonly ringing = new Map<string, Ringing>();
  /** Candidates from callee devices whose answer has not arrived (it may come second). */
  private readonly early = new Map<string, { device: string; candidates: MessageContent[] }[]>();
  private readonly intents = new WeakMap<Call, PlaceCallOptions>();
  private readonly host: CallHost;

  constructor(private readonly o: CallsDeps) {
    this.host = {
      now: o.now,
      forget: (c) => {
        if (this.active.get(c.id) === c) this.active.delete(c.id);
        this.early.delete(c.id);
      },
      sendCandidates: (c, candidates) =>
        this.send({
          to: c.peer.address,
          devices: [c.peer.device!],
          content: { type: "rt_candidate", session: c.id, candidates },
          ttlMs: SIGNAL_TTL_MS,
          maxAgeMs: KEYS_MAX_AGE_MS,
        }),
      sendHangup: (c, reason) =>
        this.send({
          to: c.peer.address,
          // Not answered yet: every device of the callee is ringing.
          ...(c.peer.device !== undefined ? { devices: [c.peer.device] } : {}),
          content: { type: "rt_hangup", session: c.id, reason },
          ttlMs: SIGNAL_TTL_MS,
          maxAgeMs: KEYS_MAX_AGE_MS,
        }),
    };
  }

  on<K extends keyof CallsEvents>(event: K, listener: (value: CallsEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  /** Whether a session is a call of this device (so its signals are routed here). */
  owns(session: string): boolean {
    return this.active.has(session) || this.ringing.has(session);
  }

  /** Calls ringing on this device. */
  incoming(): IncomingCall[] {
    const now = this.o.now();
    return [...this.ringing.values()].filter((r) => r.exp > now).map(({ exp: _exp, ...r }) => r);
  }

  /** The ICE servers a call of this device uses: the own server's TURN relay, with fresh credentials. */
  iceServers(): Promise<IceServer[]> {
    return this.o.iceServers();
  }

  calls(): Call[] {
    return [...this.active.values()];
  }

  /** Call `address`: every device of it rings; the call connects when one answers. */
  async call(address: string, o: PlaceCallOptions = {}): Promise<Call> {
    const to = parseAddress(address);
    // They are calling us already: calling them back is answering.
    const theirs = [...this.ringing.values()].find((r) => r.from === to && r.exp > this.o.now());
    if (theirs && to !== this.o.account.address) return this.answer(theirs.session, o);
    const media = o.media ?? "voice";
    const connection = await this.connection(media, o);
    const call = new Call(
      this.host,
      newMessageId(),
      "caller",
      media,
      { address: to, device: undefined },
      connection,
    );
    this.intents.set(call, o);
    this.active.set(call.id, call);
    try {
      // The engine trickles what it gathered anyway; an application's offer keeps its candidates for later.
      const split = splitCandidates(connection ? await connection.createOffer() : o.sdp!);
      const sdp = split.sdp;
      if (!connection && split.candidates.length > 0) call.addLocalCandidates(split.candidates);
      const fingerprint = formatFingerprint(sdpFingerprint(sdp));
      await this.send({
        to,
        content: { type: "rt_offer", session: call.id, media, sdp, dtls_fingerprint: fingerprint },
        ttlMs: SIGNAL_TTL_MS,
      });
    } catch (e) {
      await call.terminate("failed", false, false);
      throw e;
    }
    call.timer(o.timeoutMs ?? DEFAULT_RING_MS, () => {
      if (call.state === "calling") void call.terminate("timeout", false, true);
    });
    call.on("state", (s) => {
      if (s === "connecting")
        call.timer(o.connectTimeoutMs ?? DEFAULT_CONNECT_MS, () => {
          if (call.state === "connecting") void call.terminate("failed", false, true);
        });
    });
    return call;
  }

  /** Answer a call ringing here; this account's other devices stop ringing. */
  async answer(session: string, o: MediaOptions & { connectTimeoutMs?: number } = {}): Promise<Call> {
    const offer = this.take(session);
    const media = offer.media === "video" && o.video === false ? "voice" : offer.media;
    const connection = await this.connection(media, o);
    const call = new Call(
      this.host,
      offer.session,
      "callee",
      media,
      { address: offer.from, device: offer.device },
      connection,
    );
    this.active.set(call.id, call);
    try {
      let sdp: string;
      if (connection) {
        sdp = await connection.acceptOffer(offer.sdp);
        call.offerApplied(offer.dtlsFingerprint);
      } else {
        sdp = o.sdp!;
        await call.remoteDescription(offer.sdp, offer.dtlsFingerprint, false);
        call.offerApplied(offer.dtlsFingerprint);
      }
      const fingerprint = formatFingerprint(sdpFingerprint(sdp));
      await this.send({
        to: offer.from,
        // A call to oneself: the copy for the other own devices is the same message.
        ...(offer.from === this.o.account.address ? {} : { devices: [offer.device], own: true }),
        content: { type: "rt_answer", session: call.id, sdp, dtls_fingerprint: fingerprint },
        ttlMs: SIGNAL_TTL_MS,
      });
    } catch (e) {
      await call.terminate("failed", false, true);
      throw e;
    }
    call.timer(o.connectTimeoutMs ?? DEFAULT_CONNECT_MS, () => {
      if (call.state === "connecting") void call.terminate("failed", false, true);
    });
    return call;
  }

  /** Refuse a call ringing here (declined, or busy); the caller and the other own devices are told. */
  async reject(session: string, reason: "declined" | "busy" = "declined"): Promise<void> {
    const offer = this.take(session);
    await this.refuse(offer.from, offer.device, offer.session, reason);
  }

  async closeAll(): Promise<void> {
    for (const c of [...this.active.values()]) await c.terminate("failed", false, true);
    this.ringing.clear();
  }

  /** A verified rt_* message of a call. Never throws: a bad signal must not hold up the mailbox. */
  async signal(m: InboxEntry): Promise<void> {
    try {
      await this.dispatch(m);
    } catch (error) {
      this.events.emit("error", { where: `signal ${m.content.type}`, error });
    }
  }

  // --- internals ---

  private async dispatch(m: InboxEntry): Promise<void> {
    const from = m.from as PeopleAddress;
    const device = m.device as DeviceId;
    const self = this.o.account.address;
    const c = m.content;
    switch (c.type) {
      case "rt_offer":
        if (c.media === "data" || c.sdp === undefined || c.dtls_fingerprint === undefined) return;
        return this.offer(m, { ...c, media: c.media, sdp: c.sdp, fingerprint: c.dtls_fingerprint });
      case "rt_answer": {
        const call = this.active.get(c.session);
        if (!call || call.role !== "caller" || call.peer.address !== from) {
          const r = from === self ? this.ringing.get(c.session) : undefined;
          if (r && device !== r.device) this.endRinging(r, "answered_elsewhere");
          return;
        }
        if (call.state !== "calling") {
          // First answer wins: a later one from another device is told the call is taken.
          if (call.peer.device !== device) await this.refuse(from, device, c.session, "busy", false);
          return;
        }
        if (
          c.sdp === undefined ||
          c.dtls_fingerprint === undefined ||
          !fingerprintHolds(c.sdp, c.dtls_fingerprint)
        ) {
          // Still unanswered: every device of the callee is told.
          await call.terminate("failed", false, true);
          return;
        }
        call.answered(device);
        try {
          await call.remoteDescription(c.sdp, c.dtls_fingerprint, true);
        } catch (e) {
          await call.terminate("failed", false, true);
          throw e;
        }
        for (const e of this.early.get(c.session) ?? [])
          if (e.device === device)
            for (const x of e.candidates)
              if (x.type === "rt_candidate") await call.remoteCandidates(x.candidates);
        this.early.delete(c.session);
        return;
      }
      case "rt_candidate": {
        const call = this.active.get(c.session);
        if (!call || call.peer.address !== from) return;
        if (call.peer.device === device) return call.remoteCandidates(c.candidates);
        if (call.state === "calling") {
          const list = this.early.get(c.session) ?? [];
          if (list.length < 32) list.push({ device, candidates: [c] });
          this.early.set(c.session, list);
        }
        return;
      }
      case "rt_hangup": {
        const r = this.ringing.get(c.session);
        if (r && (from === r.from || from === self)) {
          const caller = from === r.from && device === r.device;
          this.endRinging(r, caller ? c.reason : `${c.reason}_elsewhere`);
          return;
        }
        const call = this.active.get(c.session);
        if (!call || call.peer.address !== from) return;
        if (call.peer.device !== undefined && call.peer.device !== device) return;
        // A caller says busy to an answering device only when another device answered first.
        const reason = c.reason === "busy" && call.role === "callee" ? "answered_elsewhere" : c.reason;
        await call.terminate(reason, true, false);
        return;
      }
      default:
        return;
    }
  }

  private async offer(
    m: InboxEntry,
    c: { session: string; media: CallMedia; sdp: string; fingerprint: string },
  ): Promise<void> {
    const from = m.from as PeopleAddress;
    const device = m.device as DeviceId;
    if (this.owns(c.session)) return;
    if (!fingerprintHolds(c.sdp, c.fingerprint)) {
      await this.refuse(from, device, c.session, "failed", false);
      return;
    }
    const ring: Ringing = {
      session: c.session,
      from,
      device,
      media: c.media,
      ts: m.ts,
      sdp: c.sdp,
      dtlsFingerprint: c.fingerprint,
      exp: m.exp,
    };
    const glare = [...this.active.values()].find(
      (x) =>
        x.role === "caller" &&
        x.state === "calling" &&
        x.peer.address === from &&
        from !== this.o.account.address,
    );
    if (glare) {
      // Both sides compare the same two ids, so both keep the same call.
      if (c.session > glare.id) return;
      await glare.terminate("replaced", false, true);
      this.ringing.set(c.session, ring);
      const intent = this.intents.get(glare) ?? {};
      if (!this.o.engine) {
        this.events.emit("incoming", withoutExp(ring));
        return;
      }
      const by = await this.answer(c.session, {
        ...(intent.audio ? { audio: intent.audio } : {}),
        ...(intent.relayOnly ? { relayOnly: true } : {}),
      });
      this.events.emit("glare", { replaced: glare, by });
      return;
    }
    if (this.active.size > 0) {
      await this.refuse(from, device, c.session, "busy");
      return;
    }
    const now = this.o.now();
    for (const [id, x] of this.ringing) if (x.exp <= now) this.ringing.delete(id);
    this.ringing.set(c.session, ring);
    this.events.emit("incoming", withoutExp(ring));
  }

  private endRinging(r: Ringing, reason: string): void {
    this.ringing.delete(r.session);
    this.events.emit("ringingEnded", { session: r.session, from: r.from, reason });
  }

  /** rt_hangup to the calling device; `own`: a copy so this account's other devices stop ringing. */
  private async refuse(
    to: PeopleAddress,
    device: DeviceId,
    session: string,
    reason: HangupReason,
    own = true,
  ): Promise<void> {
    const self = to === this.o.account.address;
    await this.send({
      to,
      ...(own && self ? {} : { devices: [device], ...(own ? { own: true } : {}) }),
      content: { type: "rt_hangup", session, reason },
      ttlMs: SIGNAL_TTL_MS,
      maxAgeMs: KEYS_MAX_AGE_MS,
    });
  }

  private take(session: string): Ringing {
    const id = parseMessageId(session, "PEOPLE_BAD_REQUEST");
    const r = this.ringing.get(id);
    this.ringing.delete(id);
    if (!r || r.exp <= this.o.now()) throw new PeopleError("PEOPLE_NOT_FOUND", "no such incoming call");
    return r;
  }

  private async connection(media: CallMedia, o: MediaOptions) {
    if (o.sdp !== undefined) {
      if (o.audio !== undefined)
        throw new PeopleError("PEOPLE_BAD_REQUEST", "a signalling-only call sends no audio");
      sdpFingerprint(o.sdp);
      return undefined;
    }
    if (!this.o.engine)
      throw new PeopleError("PEOPLE_BAD_REQUEST", "this client has no media engine: pass the SDP");
    const iceServers = await this.o.iceServers();
    if (o.relayOnly && iceServers.length === 0)
      throw new PeopleError("PEOPLE_NOT_FOUND", "relay only, but the server offers no TURN relay");
    return this.o.engine.createPeer({
      media,
      iceServers,
      relayOnly: o.relayOnly === true,
      audio: o.audio ?? { silence: true },
    });
  }

  private async send(m: TargetedMessage): Promise<void> {
    await this.o.sender.send(m);
  }
}
