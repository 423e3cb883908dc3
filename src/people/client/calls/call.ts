// One voice or video call on this device (PROTOCOL §11.3): its state machine
// (calling | ringing → connecting → active → ended), the signed DTLS
// fingerprint the peer must present, and trickle ICE. With a media engine the
// call opens media itself; without one (signalling only, as the bridge
// passes an Element client's SDP through) it hands the peer's SDP and
// candidates to the application and takes the application's.
import { PeopleError } from "../../errors.js";
import type { PeopleAddress } from "../../protocol/address.js";
import type { DeviceId } from "../../protocol/ids.js";
import { checkSdpFingerprint, parseFingerprint, sameFingerprint } from "../../protocol/sdp-fingerprint.js";
import { Emitter } from "../emitter.js";
import type { HangupReason } from "../realtime-types.js";
import { sdpCarriesVideo } from "../../protocol/sdp-media.js";
import type { CallMedia, DecodedAudio, IceCandidate, MediaPeer } from "./media-engine.js";

/** calling: our offer rings at the callee; connecting: answered, ICE and DTLS under way. */
export type CallState = "calling" | "connecting" | "active" | "ended";
/** Why a call ended: a hangup reason, or (only locally) taken by another device or replaced in glare. */
export type CallEndReason = HangupReason | "answered_elsewhere" | "replaced";

export interface CallEvents {
  state: CallState;
  /** Signalling only: the peer's SDP answer (the caller's offer comes with the incoming call). */
  remoteSdp: string;
  /** Signalling only: the peer's trickled candidates. */
  remoteCandidates: IceCandidate[];
  audio: DecodedAudio;
  video: { width: number; height: number; data?: Uint8Array };
  ended: { reason: CallEndReason; remote: boolean; durationMs: number };
  /** A video call was answered audio only: the answering device takes no video (§11.3.1). */
  videoRefused: { device: DeviceId | undefined };
}

/** What a call needs from the calls manager. */
export interface CallHost {
  sendCandidates(call: Call, candidates: IceCandidate[]): Promise<void>;
  sendHangup(call: Call, reason: HangupReason): Promise<void>;
  forget(call: Call): void;
  now(): number;
}

export class Call {
  readonly events = new Emitter<CallEvents>();
  state: CallState;
  /** When media started flowing (active), for the duration. */
  activeAt: number | undefined;
  endReason: CallEndReason | undefined;
  /** Caller of a video call: the answer refused video, so the call runs audio only. */
  videoRefused = false;
  /** The fingerprint the peer device signed; its DTLS certificate must have it. */
  private signedFingerprint: string | undefined;
  private readonly localCandidates: IceCandidate[] = [];
  private flushing = false;
  private remoteSet = false;
  private readonly remoteQueue: IceCandidate[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly host: CallHost,
    readonly id: string,
    readonly role: "caller" | "callee",
    readonly media: CallMedia,
    /** The peer; `device` is undefined while every device of the callee rings. */
    readonly peer: { address: PeopleAddress; device: DeviceId | undefined },
    /** The media engine's peer connection; undefined in signalling-only mode. */
    readonly connection: MediaPeer | undefined,
  ) {
    this.state = role === "caller" ? "calling" : "connecting";
    if (connection) {
      connection.events.on("candidate", (c) => this.localCandidate(c));
      connection.events.on("audio", (a) => this.events.emit("audio", a));
      connection.events.on("video", (v) => this.events.emit("video", v));
      connection.events.on("state", (s) => {
        if (s === "connected") void this.connected();
        else if (s === "failed") void this.terminate("failed", false, true);
      });
    }
  }

  on<K extends keyof CallEvents>(event: K, listener: (value: CallEvents[K]) => void): () => void {
    return this.events.on(event, listener);
  }

  get ended(): boolean {
    return this.state === "ended";
  }

  /** Milliseconds since media started flowing (0 before). */
  duration(): number {
    return this.activeAt === undefined ? 0 : this.host.now() - this.activeAt;
  }

  /** Resolves when the call is active; rejects with the reason when it ends first. */
  whenActive(): Promise<void> {
    if (this.state === "active") return Promise.resolve();
    if (this.ended) return Promise.reject(endedError(this.endReason ?? "failed"));
    return new Promise((resolve, reject) => {
      const offs = [
        this.on("state", (s) => {
          if (s !== "active") return;
          offs.forEach((off) => off());
          resolve();
        }),
        this.on("ended", (e) => {
          offs.forEach((off) => off());
          reject(endedError(e.reason));
        }),
      ];
    });
  }

  /** Resolves with how the call ended. */
  whenEnded(): Promise<CallEvents["ended"]> {
    if (this.ended)
      return Promise.resolve({
        reason: this.endReason ?? "failed",
        remote: false,
        durationMs: this.duration(),
      });
    return this.events.once("ended");
  }

  /** End the call; the peer (before an answer: every device of the callee) is told. */
  async hangup(): Promise<void> {
    await this.terminate("normal", false, true);
  }

  /** Signalling only: candidates the application's WebRTC stack gathered (an empty `candidate` ends them). */
  addLocalCandidates(candidates: readonly IceCandidate[]): void {
    if (this.connection) throw new PeopleError("PEOPLE_BAD_REQUEST", "this call gathers its own candidates");
    for (const c of candidates) this.localCandidate(c);
  }

  // --- the calls manager ---

  /** The remote SDP, signed with `fingerprint`; refused (the call fails) unless the SDP names exactly it. */
  async remoteDescription(sdp: string, fingerprint: string, apply: boolean): Promise<void> {
    checkSdpFingerprint(sdp, fingerprint);
    this.signedFingerprint = fingerprint;
    if (!apply) return;
    if (this.role === "caller" && this.media === "video" && !sdpCarriesVideo(sdp)) {
      this.videoRefused = true;
      this.events.emit("videoRefused", { device: this.peer.device });
    }
    if (this.connection) await this.connection.acceptAnswer(sdp);
    else this.events.emit("remoteSdp", sdp);
    this.remoteSet = true;
    await this.remoteCandidates(this.remoteQueue.splice(0));
  }

  /** The callee's connection already took the offer (acceptOffer): candidates may be applied now. */
  offerApplied(fingerprint: string): void {
    this.signedFingerprint = fingerprint;
    this.remoteSet = true;
  }

  /** Caller: the answering device is now the peer. */
  answered(device: DeviceId): void {
    this.peer.device = device;
    this.setState("connecting");
    void this.flush();
  }

  async remoteCandidates(candidates: IceCandidate[]): Promise<void> {
    if (this.ended || candidates.length === 0) return;
    if (!this.remoteSet) {
      this.remoteQueue.push(...candidates);
      return;
    }
    if (!this.connection) {
      this.events.emit("remoteCandidates", candidates);
      return;
    }
    for (const c of candidates) {
      try {
        await this.connection.addCandidate(c);
      } catch {
        // One unusable candidate (another address family, a typo) does not end the call.
      }
    }
  }

  /** Signalling only: the application says media flows (its own stack checked the fingerprint). */
  markActive(): void {
    if (this.state === "connecting") {
      this.activeAt = this.host.now();
      this.setState("active");
    }
  }

  timer(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  async terminate(reason: CallEndReason, remote: boolean, notify: boolean): Promise<void> {
    if (this.ended) return;
    this.endReason = reason;
    const durationMs = this.duration();
    this.state = "ended";
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.connection?.close();
    this.host.forget(this);
    this.events.emit("state", "ended");
    this.events.emit("ended", { reason, remote, durationMs });
    const wire: HangupReason = reason === "answered_elsewhere" || reason === "replaced" ? "normal" : reason;
    if (notify) await this.host.sendHangup(this, wire).catch(() => undefined);
  }

  // --- internals ---

  private setState(s: CallState): void {
    if (this.ended || this.state === s) return;
    this.state = s;
    this.events.emit("state", s);
  }

  private localCandidate(c: IceCandidate | null): void {
    if (this.ended) return;
    this.localCandidates.push(c ?? { candidate: "" });
    void this.flush();
  }

  /** Trickle to the peer device, batching what gathered while a send was under way. */
  private async flush(): Promise<void> {
    if (this.flushing || this.peer.device === undefined || this.localCandidates.length === 0) return;
    this.flushing = true;
    try {
      while (this.localCandidates.length > 0 && !this.ended) {
        const batch = this.localCandidates.splice(0, 64);
        await this.host.sendCandidates(this, batch);
      }
    } catch {
      // Without its candidates the peer cannot connect.
      await this.terminate("failed", false, true);
    } finally {
      this.flushing = false;
    }
  }

  /** DTLS is up: the certificate the peer presented must be the one its device signed. */
  private async connected(): Promise<void> {
    if (this.ended || this.state === "active" || !this.connection) return;
    const presented = await this.connection.remoteCertificateFingerprint().catch(() => undefined);
    const p = presented === undefined ? undefined : parseFingerprint(presented);
    const signed =
      this.signedFingerprint === undefined ? undefined : parseFingerprint(this.signedFingerprint);
    if (!p || !signed || !sameFingerprint(p, signed)) {
      await this.terminate("failed", false, true);
      return;
    }
    this.activeAt = this.host.now();
    this.setState("active");
  }
}

export function endedError(reason: CallEndReason): PeopleError {
  return new PeopleError("PEOPLE_UNAVAILABLE", `the call ended: ${reason}`);
}
