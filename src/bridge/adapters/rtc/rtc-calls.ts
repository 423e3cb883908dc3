// Element X calls (MatrixRTC) in DM portals, bridged to People calls both ways.
// Matrix → People: the portal user's call membership and ring make the bridge place a People call
// to the address (every device rings); when a device answers, the ghost joins the Matrix call.
// People → Matrix: a People call to the user's account makes the ghost start the call in the
// portal (its membership and a ring); the user joining answers the People call, a decline or the
// ring's lifetime ends it. A call in a group room, or with no LiveKit focus, gets a notice.
import type { PeopleAddress } from "../../../people/protocol/address.js";
import type { Logger } from "../../logger.js";
import type { CallIceServer, PeopleAccount, PeopleSide, RingingCall } from "../../core/ports/people-side.js";
import type { Portal, RtcCallStore } from "../../core/ports/store.js";
import { withCallMembersAllowed } from "../../model/call-power.js";
import { RtcCall } from "./rtc-call.js";
import type { RtcGhostPort, RtcMediaPorts } from "./rtc-call-ports.js";
import {
  RTC_DECLINE_TYPE,
  RTC_GROUP_TEXT,
  RTC_NO_CALLS_TEXT,
  RTC_NO_FOCUS_TEXT,
  ringContent,
} from "./rtc-content.js";
import {
  CALL_MEMBER_TYPE,
  DEFAULT_RING_LIFETIME_MS,
  RTC_NOTIFICATION_TYPE,
  parseCallMember,
  parseRtcNotification,
  type LivekitTransport,
} from "./rtc-events.js";

export const RTC_EVENT_TYPES: readonly string[] = [
  CALL_MEMBER_TYPE,
  RTC_NOTIFICATION_TYPE,
  "m.rtc.notification",
  RTC_DECLINE_TYPE,
];

export interface RtcRoomEvent {
  roomId: string;
  eventId: string;
  sender: string;
  type: string;
  stateKey?: string;
  content: unknown;
}

export interface RtcCallsOptions {
  ghost: RtcGhostPort;
  media: RtcMediaPorts;
  people: Pick<PeopleSide, "accountFor">;
  dms: { byRoom(roomId: string): Promise<Portal | undefined> };
  isGroupRoom(roomId: string): Promise<boolean>;
  ghostOf(address: PeopleAddress): string;
  /** The homeserver's LiveKit focus (its well-known), or why there is none. */
  focus(): Promise<LivekitTransport | undefined>;
  /** A notice from the room's ghost (the calls feature's `tell`), in reply to an event when given. */
  tell(roomId: string, text: string, replyTo?: string): Promise<void>;
  log: Logger;
  now?: () => number;
  /** Where each call is recorded while it lives (migration 023), for the start after a crash. */
  store?: RtcCallStore;
  /** Waits before asking again for a missing media key (rtc-call.ts KEY_ASK_DELAYS_MS). */
  keyAskDelaysMs?: readonly number[];
}

export class RtcCalls {
  /** room → the call bridged in it (one per DM portal). */
  private readonly calls = new Map<string, RtcCall>();
  /** room → the ring the ghost sent (People → Matrix), to match a decline. */
  private readonly rings = new Map<string, string>();
  private readonly now: () => number;

  constructor(private readonly o: RtcCallsOptions) {
    this.now = o.now ?? Date.now;
  }

  callIn(roomId: string): RtcCall | undefined {
    return this.calls.get(roomId);
  }

  /** The calls running now: their ids and People sessions (not leftovers of a crash). */
  live(): { ids: Set<string>; sessions: Set<string> } {
    const calls = [...this.calls.values()];
    const sessions = calls.map((c) => c.leg?.session ?? c.o.session);
    return {
      ids: new Set(calls.map((c) => c.id)),
      sessions: new Set(sessions.filter((x) => x !== undefined)),
    };
  }

  /** True when the event is a MatrixRTC event (handled here, whatever became of it). */
  async handle(e: RtcRoomEvent): Promise<boolean> {
    if (!RTC_EVENT_TYPES.includes(e.type)) return false;
    const portal = await this.o.dms.byRoom(e.roomId);
    if (!portal) {
      if (e.type !== CALL_MEMBER_TYPE && e.type !== RTC_DECLINE_TYPE && (await this.o.isGroupRoom(e.roomId)))
        await this.o.tell(e.roomId, RTC_GROUP_TEXT, e.eventId);
      return true;
    }
    if (e.sender !== portal.matrixUser) return true; // the ghost's own events come back
    if (e.type === CALL_MEMBER_TYPE) await this.member(portal, e);
    else if (e.type === RTC_DECLINE_TYPE) await this.declined(portal);
    else await this.ring(portal, e);
    return true;
  }

  private async member(portal: Portal, e: RtcRoomEvent): Promise<void> {
    const m = parseCallMember(e.content);
    if (!m.ok) {
      this.o.log.info({ room: e.roomId, why: m.reason }, "a malformed call membership, not bridged");
      return;
    }
    const call = this.calls.get(portal.roomId);
    if (m.value.kind === "left") {
      // The state key names the device that left (`_@user:hs_DEVICE_m.call`).
      if (call && call.matrixDevice !== undefined && e.stateKey?.includes(`_${call.matrixDevice}_`))
        await call.end("matrix_left");
      return;
    }
    if (!call) {
      this.pendingMember.set(portal.roomId, { deviceId: m.value.deviceId, livekit: m.value.livekit });
      return;
    }
    if (call.o.direction === "to_matrix" && call.matrixDevice === undefined) {
      // The user joined the call the ghost started: the People call is answered.
      await call.answeredBy(m.value.deviceId);
      await this.answerPeople(portal, call);
    }
  }

  /** The user's latest call membership per room, before a ring starts the bridged call. */
  private readonly pendingMember = new Map<
    string,
    { deviceId: string; livekit: LivekitTransport | undefined }
  >();

  /** Matrix → People: the user rings the ghost. */
  private async ring(portal: Portal, e: RtcRoomEvent): Promise<void> {
    const n = parseRtcNotification(e.content);
    if (!n.ok || !n.value.ring || this.calls.has(portal.roomId)) return;
    const address = portal.peopleAddress as PeopleAddress;
    const member = this.pendingMember.get(portal.roomId);
    const focus = member?.livekit ?? (await this.o.focus());
    if (!focus) {
      await this.o.tell(portal.roomId, RTC_NO_FOCUS_TEXT, e.eventId);
      return;
    }
    const account = await this.o.people.accountFor(portal.matrixUser);
    if (!account.calls) {
      await this.o.tell(portal.roomId, RTC_NO_CALLS_TEXT, e.eventId);
      return;
    }
    const media = n.value.intent === "audio" ? "voice" : "video";
    await this.o.media.prepare?.();
    const call = this.newCall(portal, "to_people", media, focus, await this.iceServers(account));
    if (member) call.matrixDevice = member.deviceId;
    try {
      await call.recordStart();
      const sdp = await call.peer.createOffer();
      const leg = await account.calls.place(address, { media, sdp, ringMs: n.value.lifetimeMs });
      call.attach(leg);
      await call.record({ session: leg.session });
    } catch (err) {
      this.o.log.info({ err, room: portal.roomId }, "a MatrixRTC call could not be placed to People");
      await call.end("failed");
    }
  }

  /** People → Matrix: a People call rings the user; the ghost starts the call in the portal. */
  async ringMatrix(portal: Portal, ring: RingingCall): Promise<void> {
    const account = await this.o.people.accountFor(portal.matrixUser);
    if (this.calls.has(portal.roomId)) {
      await account.calls?.reject(ring.session, "busy");
      return;
    }
    const focus = await this.o.focus();
    if (!focus) {
      await account.calls?.reject(ring.session, "busy");
      await this.o.tell(portal.roomId, RTC_NO_FOCUS_TEXT);
      return;
    }
    const ice = await this.iceServers(account);
    await this.o.media.prepare?.();
    const call = this.newCall(portal, "to_matrix", ring.media, focus, ice, ring.session);
    this.ringing.set(portal.roomId, ring);
    try {
      await call.recordStart();
      await this.allowCallMembers(portal);
      await call.joinRtc();
      const ghost = this.o.ghostOf(portal.peopleAddress as PeopleAddress);
      const id = await this.o.ghost.send(
        ghost,
        portal.roomId,
        RTC_NOTIFICATION_TYPE,
        ringContent({
          invitee: portal.matrixUser,
          memberEventId: call.memberEventId ?? "",
          intent: ring.media === "video" ? "video" : "audio",
          now: this.now(),
          lifetimeMs: DEFAULT_RING_LIFETIME_MS,
        }),
        `rtc.ring.${ring.session}`,
      );
      this.rings.set(portal.roomId, id);
    } catch (err) {
      this.o.log.info({ err, room: portal.roomId }, "a People call could not ring in Matrix");
      await call.end("failed");
    }
  }

  private readonly ringing = new Map<string, RingingCall>();

  /**
   * A portal made before the bridge opened call membership to members gets it when the ghost
   * first rings there, if the ghost has the power (it made the room); otherwise it stays as it
   * is and the user may not be able to answer (logged).
   */
  private async allowCallMembers(portal: Portal): Promise<void> {
    const { ghost } = this.o;
    if (!ghost.roomState) return;
    const who = this.o.ghostOf(portal.peopleAddress as PeopleAddress);
    try {
      const levels = await ghost.roomState(who, portal.roomId, "m.room.power_levels", "");
      const next = levels && withCallMembersAllowed(levels);
      if (next) await ghost.setState(who, portal.roomId, "m.room.power_levels", "", next);
    } catch (err) {
      this.o.log.info(
        { err, room: portal.roomId },
        "call membership could not be opened to the portal's members",
      );
    }
  }

  private async answerPeople(portal: Portal, call: RtcCall): Promise<void> {
    const ring = this.ringing.get(portal.roomId);
    this.ringing.delete(portal.roomId);
    const account = await this.o.people.accountFor(portal.matrixUser);
    if (!ring || !account.calls) return call.end("failed");
    try {
      const sdp = await call.peer.acceptOffer(ring.sdp);
      call.attach(await account.calls.answer(ring.session, sdp));
    } catch (err) {
      this.o.log.info({ err, room: portal.roomId }, "a People call could not be answered");
      await call.end("failed");
    }
  }

  /** The user declined the ghost's ring. */
  private async declined(portal: Portal): Promise<void> {
    const call = this.calls.get(portal.roomId);
    const ring = this.ringing.get(portal.roomId);
    if (!call || !ring) return;
    this.ringing.delete(portal.roomId);
    const account = await this.o.people.accountFor(portal.matrixUser);
    await account.calls?.reject(ring.session, "declined").catch(() => undefined);
    await call.end("matrix_declined");
  }

  /** The People caller gave up, or the ring's lifetime passed: a missed call. */
  async peopleRingEnded(roomId: string, session: string): Promise<void> {
    const ring = this.ringing.get(roomId);
    if (!ring || ring.session !== session) return;
    this.ringing.delete(roomId);
    await this.calls.get(roomId)?.end("people", "timeout");
  }

  /** A media key a ghost's device received (Olm-decrypted) for a call in `roomId`. */
  mediaKey(roomId: string, userId: string, deviceId: string, key: Uint8Array, index: number): void {
    const call = this.calls.get(roomId);
    if (call) {
      if (userId === call.o.matrixUser) call.mediaKey(userId, deviceId, key, index);
      else
        this.o.log.debug({ roomId, index }, "a media key from another member than the call's user: ignored");
      return;
    }
    this.o.log.debug({ roomId, index }, "a media key before its call: kept for it");
    // Element Call sends its key as it joins, often before its ring: kept for the call to come.
    this.earlyKeys.delete(roomId);
    this.earlyKeys.set(roomId, { userId, deviceId, key, index });
    if (this.earlyKeys.size > 1_000) this.earlyKeys.delete(this.earlyKeys.keys().next().value!);
  }

  private readonly earlyKeys = new Map<
    string,
    { userId: string; deviceId: string; key: Uint8Array; index: number }
  >();

  /** Every call ends (the bridge stops). */
  async stop(): Promise<void> {
    for (const call of [...this.calls.values()]) await call.end("restart");
  }

  /** The account's ICE servers for the People leg; without them (an outage) host candidates only. */
  private async iceServers(account: PeopleAccount): Promise<CallIceServer[]> {
    try {
      return (await account.calls?.iceServers?.()) ?? [];
    } catch (err) {
      this.o.log.warn({ err }, "no TURN credentials for a MatrixRTC call's People leg: host candidates only");
      return [];
    }
  }

  private newCall(
    portal: Portal,
    direction: "to_people" | "to_matrix",
    media: "voice" | "video",
    focus: LivekitTransport,
    iceServers: CallIceServer[],
    session?: string,
  ): RtcCall {
    const address = portal.peopleAddress as PeopleAddress;
    const call = new RtcCall({
      roomId: portal.roomId,
      matrixUser: portal.matrixUser,
      ghost: this.o.ghostOf(address),
      name: address,
      direction,
      media,
      ...(session ? { session } : {}),
      focus,
      iceServers,
      ...(this.o.keyAskDelaysMs ? { keyAskDelaysMs: this.o.keyAskDelaysMs } : {}),
      ports: {
        ghost: this.o.ghost,
        media: this.o.media,
        now: this.now,
        log: this.o.log,
        ...(this.o.store ? { store: this.o.store } : {}),
      },
      onEnded: (c) => {
        if (this.calls.get(portal.roomId) === c) this.calls.delete(portal.roomId);
        this.ringing.delete(portal.roomId);
        this.rings.delete(portal.roomId);
      },
    });
    this.calls.set(portal.roomId, call);
    const early = this.earlyKeys.get(portal.roomId);
    this.earlyKeys.delete(portal.roomId);
    if (early && early.userId === portal.matrixUser)
      call.mediaKey(early.userId, early.deviceId, early.key, early.index);
    return call;
  }
}
