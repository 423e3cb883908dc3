// One MatrixRTC call bridged to one People call: the ghost's LiveKit leg (its membership, its
// per-participant media key, the Matrix user's key), the People leg (a libwebrtc peer whose SDP
// the account's calls manager signs and carries: DTLS-SRTP to Joe's device), and the media
// relay between them. Each leg's end ends the other; the call's line is left in the room.
import { randomUUID } from "node:crypto";
import type { MediaPeer } from "../../../people/client/calls/media-engine.js";
import type { CallIceServer, CallLeg, CallLegEvents } from "../../core/ports/people-side.js";
import type { RtcCallRecord, RtcCallStore } from "../../core/ports/store.js";
import type { Logger } from "../../logger.js";
import { livekitIdentity } from "./rtc-foci.js";
import { KeyWatch } from "./key-watch.js";
import type { CallMedia, CallRtcLeg, RtcGhostPort, RtcMediaPorts } from "./rtc-call-ports.js";
import { CALL_MEMBER_TYPE, memberContent, memberStateKey, rtcLines } from "./rtc-content.js";
import type { LivekitTransport } from "./rtc-events.js";

/** `relay`: the media path died under the call (the sidecar process). */
export type RtcEndReason = "matrix_left" | "matrix_declined" | "people" | "failed" | "restart" | "relay";

export interface RtcCallInit {
  roomId: string;
  /** The portal's Matrix user and the People address behind the ghost. */
  matrixUser: string;
  ghost: string;
  /** How the ghost's lines name the People side ("joe@example.com"). */
  name: string;
  direction: "to_people" | "to_matrix";
  media: "voice" | "video";
  /** The People call's session when known from the start (People → Matrix: the ring's). */
  session?: string;
  focus: LivekitTransport;
  /** The People leg's ICE servers (the account's People server's TURN relay, as its own calls use). */
  iceServers: CallIceServer[];
  ports: {
    ghost: RtcGhostPort;
    media: RtcMediaPorts;
    now: () => number;
    /** Where the call is recorded while it lives (a crash leaves its row for the next start). */
    store?: RtcCallStore;
    log?: Logger;
  };
  /** Waits before asking again for the Matrix user's media key (default KEY_ASK_DELAYS_MS). */
  keyAskDelaysMs?: readonly number[];
  onEnded: (call: RtcCall) => void;
}

/**
 * The ghost's delayed leave (MSC4140): the homeserver empties its membership this long after the
 * bridge last refreshed it, so a bridge that died leaves no ghost in the call. Element Call uses
 * 8 s; a bridge on a loaded host gets more slack, refreshed well inside it.
 */
export const LEAVE_DELAY_MS = 30_000;
export const LEAVE_REFRESH_MS = 10_000;
/** Element Call shares its key within a second or two of seeing the ghost join; asked 3 times. */
export const KEY_ASK_DELAYS_MS = [5_000, 10_000, 20_000];

export class RtcCall {
  /** This call's own id (its row; the line's transaction key when no People session is known). */
  readonly id = randomUUID();
  private leaveTimer: NodeJS.Timeout | undefined;
  private delayId: string | undefined;
  leg: CallLeg | undefined;
  /** The call's two legs and the relay between them (in the bridge, or in the sidecar). */
  readonly media: CallMedia;
  readonly peer: MediaPeer;
  private readonly lk: CallRtcLeg;
  private device: string | undefined;
  private ghostDevice: string | undefined;
  private joined = false;
  private answeredAt: number | undefined;
  private ended = false;
  /** Keys that came before the LiveKit leg could take them. */
  private readonly keys = new Map<string, { key: Uint8Array; index: number }>();
  private lkConnected = false;
  /** The ghost's membership event (a ring refers to it). */
  memberEventId: string | undefined;
  /** Whether the call's media is end-to-end encrypted (the room is), known once the ghost joins. */
  private encrypted = true;
  /** The index of the Matrix user's key that came after the ghost's membership (none yet). */
  private keyFromMatrix: number | undefined;
  /** The ghost's media key for this call. */
  private own: { key: Uint8Array; index: number } | undefined;
  /** Settles once the peer has the People device's description (the callee's: from the start). */
  private remoteSet: Promise<void> = Promise.resolve();
  /** The peer's candidates gathered before the People leg exists. */
  private readonly early: { candidate: string; mid?: string; index?: number }[] = [];

  /** Asks again (a fresh membership) while the Matrix user's media key has not come. */
  private readonly keyWatch: KeyWatch;

  constructor(readonly o: RtcCallInit) {
    this.keyWatch = new KeyWatch({
      delaysMs: o.keyAskDelaysMs ?? KEY_ASK_DELAYS_MS,
      ask: (attempt) => this.askForKey(attempt),
    });
    this.media = o.ports.media.newCallMedia({ media: o.media, iceServers: o.iceServers });
    this.lk = this.media.leg;
    this.peer = this.media.peer;
    this.media.onLost((why) => {
      o.ports.log?.warn({ room: o.roomId, why }, "a MatrixRTC call's media relay was lost: the call ends");
      void this.end("relay");
    });
    this.peer.events.on("candidate", (c) => {
      const candidate = c ?? { candidate: "" };
      if (this.leg) this.leg.addLocalCandidates([candidate]);
      else this.early.push(candidate);
    });
    this.peer.events.on("state", (s) => {
      if (s === "connected") this.leg?.connected?.();
      else if (s === "failed") void this.end("failed");
    });
    this.lk.on("left", (identity) => {
      if (this.matrixDevice && identity === livekitIdentity(o.matrixUser, this.matrixDevice))
        void this.end("matrix_left");
    });
  }

  /** The Matrix user's call device, once its membership is known: its media goes to People. */
  get matrixDevice(): string | undefined {
    return this.device;
  }

  set matrixDevice(deviceId: string | undefined) {
    this.device = deviceId;
    if (deviceId !== undefined) this.media.from(livekitIdentity(this.o.matrixUser, deviceId));
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Records the call before either side hears of it (awaited: the write is durable). */
  async recordStart(): Promise<void> {
    await this.o.ports.store?.put({
      callId: this.id,
      roomId: this.o.roomId,
      matrixUser: this.o.matrixUser,
      peopleAddress: this.o.name,
      ghost: this.o.ghost,
      direction: this.o.direction,
      media: this.o.media,
      state: "ringing",
      session: this.o.session,
      createdAt: this.o.ports.now(),
    });
  }

  /** What the call learnt, in its row. */
  async record(
    change: Partial<Pick<RtcCallRecord, "state" | "session" | "ghostDevice" | "delayId" | "answeredAt">>,
  ): Promise<void> {
    if (!this.ended) await this.o.ports.store?.update(this.id, change);
  }

  /** Drives the People leg: its answer, candidates and end; the peer's candidates go to it. */
  attach(leg: CallLeg): void {
    this.leg = leg;
    if (this.early.length > 0) leg.addLocalCandidates(this.early.splice(0));
    leg.on("remoteSdp", (sdp) => {
      // Set before the leg's queued candidates are emitted (right after this event).
      this.remoteSet = this.peer.acceptAnswer(sdp);
      void this.peopleAnswered();
    });
    leg.on("remoteCandidates", (cs) => {
      // A candidate before the remote description would be refused and lost.
      void this.remoteSet.then(async () => {
        for (const c of cs) await this.peer.addCandidate(c).catch(() => undefined);
      });
    });
    leg.on("ended", (e) => void this.peopleEnded(e));
  }

  /** Matrix → People: Joe's device answered; the ghost joins the Matrix user's call. */
  private async peopleAnswered(): Promise<void> {
    try {
      await this.remoteSet;
      this.answeredAt = this.o.ports.now();
      await this.record({ state: "active", answeredAt: this.answeredAt });
      await this.joinRtc();
    } catch {
      await this.end("failed");
    }
  }

  /** The ghost's LiveKit connection, its key to the Matrix user's device, then its membership. */
  async joinRtc(): Promise<void> {
    if (this.joined || this.ended) return;
    this.joined = true;
    const { ghost, media } = this.o.ports;
    const device = (this.ghostDevice = await ghost.device(this.o.ghost));
    const openId = await ghost.openIdToken(this.o.ghost);
    const { url, jwt } = await media.token({
      focus: this.o.focus,
      roomId: this.o.roomId,
      deviceId: device,
      openId,
    });
    // As Element Call: per-participant media keys in an encrypted room, plain frames elsewhere.
    this.encrypted = await ghost.roomEncrypted(this.o.ghost, this.o.roomId);
    await this.lk.connect(url, jwt, { video: this.o.media === "video", e2ee: this.encrypted });
    this.lkConnected = true;
    if (this.encrypted) {
      const own = (this.own = { key: media.newKey(), index: 0 });
      this.lk.setKey(livekitIdentity(this.o.ghost, device), own.key, own.index);
      for (const [identity, k] of this.keys) this.lk.setKey(identity, k.key, k.index);
      this.o.ports.log?.debug(
        { room: this.o.roomId, indexes: [...this.keys.values()].map((k) => k.index) },
        "the ghost's LiveKit leg has its keys",
      );
    }
    // Recorded, and its leave scheduled, before the membership exists: no crash can orphan it.
    await this.record({ ghostDevice: device });
    await this.scheduleLeave(memberStateKey(this.o.ghost, device));
    this.memberEventId = await this.announce(device);
    if (this.matrixDevice) {
      await this.sendKey(this.matrixDevice);
      this.expectKey();
    }
  }

  /** The ghost's call membership; a new created_ts makes it a new joiner to Element Call. */
  private announce(device: string): Promise<string> {
    return this.o.ports.ghost.setState(
      this.o.ghost,
      this.o.roomId,
      CALL_MEMBER_TYPE,
      memberStateKey(this.o.ghost, device),
      memberContent({
        userId: this.o.ghost,
        deviceId: device,
        focus: this.o.focus,
        intent: this.o.media === "video" ? "video" : "audio",
        createdTs: this.o.ports.now(),
      }),
    );
  }

  /** Both are in the call: the Matrix user's key should come (encrypted rooms). */
  private expectKey(): void {
    if (this.encrypted && this.memberEventId && !this.ended && this.keyFromMatrix === undefined)
      this.keyWatch.start();
  }

  private async askForKey(attempt: number): Promise<void> {
    const device = this.ghostDevice;
    if (!device || this.ended || !this.matrixDevice) return;
    this.o.ports.log?.info(
      { room: this.o.roomId, attempt },
      "no media key from the Matrix user's call device yet: the ghost announces its membership again",
    );
    try {
      this.memberEventId = await this.announce(device);
      // Ours may have been lost the same way.
      await this.sendKey(this.matrixDevice);
    } catch (err) {
      this.o.ports.log?.warn({ err, room: this.o.roomId }, "asking again for the media key failed");
    }
  }

  /** The homeserver's delayed leave of the ghost's membership, refreshed while the call lives. */
  private async scheduleLeave(stateKey: string): Promise<void> {
    const { ghost, log } = this.o.ports;
    if (!ghost.scheduleLeave) return;
    try {
      const delayId = await ghost.scheduleLeave(this.o.ghost, this.o.roomId, stateKey, LEAVE_DELAY_MS);
      this.delayId = delayId;
      await this.record({ delayId });
    } catch (err) {
      // Without MSC4140 the next start's cleanup is what empties a membership a crash left.
      log?.info(
        { err, room: this.o.roomId },
        "the homeserver took no delayed leave for the ghost's call membership",
      );
      return;
    }
    this.leaveTimer = setInterval(() => {
      const refresh = ghost.refreshLeave;
      if (!this.delayId || !refresh) return;
      refresh(this.o.ghost, this.delayId).catch((err: unknown) => {
        // Gone (404): the homeserver sent it already, or it was cancelled; refreshing is over.
        if ((err as { status?: number }).status === 404) clearInterval(this.leaveTimer);
        log?.warn({ err, room: this.o.roomId }, "the ghost's delayed leave could not be refreshed");
      });
    }, LEAVE_REFRESH_MS);
    this.leaveTimer.unref();
  }

  /** The ghost's media key to the Matrix user's call device. */
  private async sendKey(deviceId: string): Promise<void> {
    if (!this.own) return;
    await this.o.ports.ghost.sendMediaKey(
      this.o.ghost,
      this.o.roomId,
      [{ userId: this.o.matrixUser, deviceId }],
      this.own,
    );
  }

  /** A media key of the Matrix user's device (Olm-decrypted by the ghost's machine). */
  mediaKey(userId: string, deviceId: string, key: Uint8Array, index: number): void {
    const identity = livekitIdentity(userId, deviceId);
    this.keys.set(identity, { key, index });
    if (this.memberEventId) {
      this.keyFromMatrix = index;
      this.keyWatch.satisfied();
    }
    const now = this.lkConnected && this.encrypted;
    this.o.ports.log?.debug(
      { room: this.o.roomId, index, now, ended: this.ended },
      "the Matrix user's media key",
    );
    if (now) this.lk.setKey(identity, key, index);
  }

  /** People → Matrix: the Matrix user joined the call (answered): the People leg is answered. */
  async answeredBy(deviceId: string): Promise<void> {
    this.matrixDevice ??= deviceId;
    this.answeredAt ??= this.o.ports.now();
    await this.record({ state: "active", answeredAt: this.answeredAt });
    await this.sendKey(deviceId);
    this.expectKey();
  }

  private async peopleEnded(e: CallLegEvents["ended"]): Promise<void> {
    if (this.ended) return;
    await this.end(e.reason === "failed" ? "failed" : "people", e.reason);
  }

  /** Ends both legs (each once) and leaves the call's line in the room. */
  async end(reason: RtcEndReason, peopleReason?: CallLegEvents["ended"]["reason"]): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.leaveTimer);
    this.media.close();
    this.keyWatch.stop();
    this.peer.close();
    // Joe's client shows "failed" for a call that never connected because the bridge's side broke
    // (its sidecar died, the bridge stopped), as Element's line here does; an answered call just ended.
    const broke =
      reason === "failed" || ((reason === "relay" || reason === "restart") && this.answeredAt === undefined);
    if (reason !== "people") await this.leg?.hangup(broke ? "failed" : "normal").catch(() => undefined);
    await this.lk.close().catch(() => undefined);
    const { ghost } = this.o.ports;
    if (this.joined && this.ghostDevice)
      await ghost
        .setState(
          this.o.ghost,
          this.o.roomId,
          CALL_MEMBER_TYPE,
          memberStateKey(this.o.ghost, this.ghostDevice),
          {},
        )
        .catch(() => undefined);
    if (this.delayId) await ghost.cancelLeave?.(this.o.ghost, this.delayId).catch(() => undefined);
    await ghost
      .send(
        this.o.ghost,
        this.o.roomId,
        "m.room.message",
        { msgtype: "m.notice", body: this.line(reason, peopleReason) },
        // Per call: a room-wide key made the homeserver drop a second unanswered call's line.
        `rtc.line.${this.leg?.session ?? this.o.session ?? this.id}`,
      )
      .catch(() => undefined);
    // Both legs are over (each told once): nothing is left for a restart to end.
    await this.o.ports.store
      ?.remove(this.id)
      .catch((err: unknown) => this.o.ports.log?.warn({ err }, "an ended MatrixRTC call's row stays"));
    this.o.onEnded(this);
  }

  /** What Element X shows for a call that ended this way. */
  line(reason: RtcEndReason, peopleReason?: CallLegEvents["ended"]["reason"]): string {
    const name = this.o.name;
    if (this.answeredAt !== undefined && reason !== "failed")
      return rtcLines.ended(this.o.ports.now() - this.answeredAt);
    if (reason === "failed" || reason === "restart" || reason === "relay") return rtcLines.failed(name);
    if (reason === "matrix_declined") return rtcLines.youDeclined;
    if (reason === "matrix_left") return rtcLines.cancelled;
    if (this.o.direction === "to_matrix") return rtcLines.missed(name);
    if (peopleReason === "declined" || peopleReason === "busy") return rtcLines.declined(name);
    return rtcLines.noAnswer(name);
  }
}
