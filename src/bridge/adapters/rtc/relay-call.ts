// The passthrough mode's call media (bridge.matrixrtc.media: passthrough): one call in the
// people-rtc-relay sidecar, seen through the two seams a call drives, the LiveKit leg
// (CallRtcLeg) and the People leg's peer (MediaPeer). Both share the sidecar's call id; the relay
// between them is in the sidecar, so no media passes through this process.
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { Emitter } from "../../../people/client/emitter.js";
import type {
  IceCandidate,
  MediaPeer,
  MediaPeerEvents,
  PeerOptions,
} from "../../../people/client/calls/media-engine.js";
import type { CallMedia, CallRtcLeg } from "./rtc-call-ports.js";
import type { RelayCallEvent, RelayProcess } from "./relay-process.js";
import { fingerprintSchema, sdpSchema, statsSchema, type RelayStats } from "./relay-wire.js";

const ok = z.looseObject({});
/** Joining a LiveKit room on a loaded host. */
const CONNECT_TIMEOUT_MS = 60_000;

export class RelayCallMedia implements CallMedia {
  /** The call's id in the sidecar. */
  readonly call = `c-${randomUUID()}`;
  readonly leg: CallRtcLeg;
  readonly peer: MediaPeer;
  private readonly opened: Promise<unknown>;
  private readonly lost: ((reason: string) => void)[] = [];
  private readonly left: ((identity: string) => void)[] = [];
  private readonly events = new Emitter<MediaPeerEvents>();
  /** The first frame carried each way and kind ("toPeople:audio"), as the sidecar reports them. */
  readonly firstMedia = new Set<string>();
  private closed = false;
  private readonly unlisten: () => void;

  constructor(
    private readonly relay: RelayProcess,
    o: Pick<PeerOptions, "media" | "iceServers">,
  ) {
    this.unlisten = relay.listen(this.call, (e) => this.onEvent(e));
    this.opened = relay.request(
      "open",
      { call: this.call, media: o.media, iceServers: o.iceServers, relayOnly: false },
      ok,
    );
    // A failed open fails the call's first request; here it is only kept from going unhandled.
    this.opened.catch(() => undefined);
    this.leg = {
      connect: async (url, jwt, c) => {
        await this.req(
          "connect",
          { url, jwt, e2ee: c.e2ee !== false, video: c.video === true },
          ok,
          CONNECT_TIMEOUT_MS,
        );
      },
      setKey: (identity, key, index) => {
        this.fire("setKey", { identity, key: Buffer.from(key).toString("base64"), index });
      },
      on: (_event, h) => void this.left.push(h),
      close: async () => this.close(),
    };
    const peer: MediaPeer = {
      events: this.events,
      createOffer: async () => (await this.req("offer", {}, sdpSchema)).sdp,
      acceptOffer: async (sdp) => (await this.req("acceptOffer", { sdp }, sdpSchema)).sdp,
      acceptAnswer: async (sdp) => void (await this.req("acceptAnswer", { sdp }, ok)),
      addCandidate: async (c: IceCandidate) => {
        // The contract speaks RTCIceCandidateInit; People's messages say mid/index.
        const candidate = {
          candidate: c.candidate,
          ...(c.mid !== undefined ? { sdpMid: c.mid } : {}),
          ...(c.index !== undefined ? { sdpMLineIndex: c.index } : {}),
        };
        await this.req("candidate", { candidate }, ok);
      },
      remoteCertificateFingerprint: async () =>
        (await this.req("fingerprint", {}, fingerprintSchema)).fingerprint ?? undefined,
      close: () => this.close(),
    };
    this.peer = peer;
  }

  from(identity: string): void {
    this.fire("from", { identity });
  }

  onLost(h: (reason: string) => void): void {
    this.lost.push(h);
  }

  /** Frames carried each way so far (the sidecar's count). */
  async stats(): Promise<RelayStats> {
    return this.req("stats", {}, statsSchema);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unlisten();
    // Idempotent in the sidecar; a sidecar that is gone has nothing left to close.
    void this.opened.then(() => this.relay.request("close", { call: this.call })).catch(() => undefined);
  }

  private async req<S extends z.ZodType>(
    op: string,
    fields: Record<string, unknown>,
    schema: S,
    timeoutMs?: number,
  ): Promise<z.infer<S>> {
    await this.opened;
    return this.relay.request(op, { ...fields, call: this.call }, schema, timeoutMs);
  }

  /** A request whose failure only the relay's log tells (a key, the `from` identity). */
  private fire(op: string, fields: Record<string, unknown>): void {
    if (this.closed) return;
    this.req(op, fields, ok).catch(() => undefined);
  }

  private onEvent(e: RelayCallEvent): void {
    if (this.closed) return;
    switch (e.event) {
      case "candidate":
        this.events.emit(
          "candidate",
          e.candidate === null
            ? null
            : {
                candidate: e.candidate.candidate,
                ...(e.candidate.sdpMid != null ? { mid: e.candidate.sdpMid } : {}),
                ...(e.candidate.sdpMLineIndex != null ? { index: e.candidate.sdpMLineIndex } : {}),
              },
        );
        return;
      case "state":
        this.events.emit("state", e.state);
        return;
      case "left":
        for (const h of this.left) h(e.identity);
        return;
      case "media":
        this.firstMedia.add(`${e.direction}:${e.kind}`);
        return;
      case "disconnected":
        for (const h of this.lost) h(`the LiveKit leg was lost (${e.reason.slice(0, 200)})`);
        return;
      case "lost":
        for (const h of this.lost) h(`the relay process ${e.reason}`);
        return;
    }
  }
}
