// An Element X / Element Call user for the MatrixRTC tests: the signalling half is matrix-js-sdk's
// MatrixRTCSession in this process (call member state, the ring notification, per-participant
// media keys as Olm-encrypted to-device io.element.call.encryption_keys from the user's own Rust
// crypto device), the media half a Chromium tab running livekit-client (rtc-browser.ts). The
// LiveKit token service is found as Element Call finds it: /.well-known/matrix/client
// org.matrix.msc4143.rtc_foci, then POST <livekit_service_url>/sfu/get with an OpenID token.
import assert from "node:assert/strict";
import type { MatrixClient, Room } from "matrix-js-sdk";
import { MatrixRTCSessionEvent, type MatrixRTCSession } from "matrix-js-sdk/lib/matrixrtc/index.js";
import type { RtcBrowser, RtcPage } from "./rtc-browser.js";

export interface LivekitFocus {
  type: "livekit";
  livekit_service_url: string;
}

/** What the homeserver advertises for Element Call. */
export async function discoverFocus(homeserverUrl: string): Promise<LivekitFocus> {
  const res = await fetch(`${homeserverUrl}/.well-known/matrix/client`);
  assert.ok(res.ok, `well-known: ${res.status}`);
  const body = (await res.json()) as { "org.matrix.msc4143.rtc_foci"?: LivekitFocus[] };
  const focus = body["org.matrix.msc4143.rtc_foci"]?.find((f) => f.type === "livekit");
  assert.ok(focus, "the homeserver advertises no LiveKit focus");
  return focus;
}

/** The LiveKit URL and JWT for a user's device in a room, from the token service. */
export async function livekitToken(
  client: MatrixClient,
  focus: LivekitFocus,
  livekitRoom: string,
): Promise<{ url: string; jwt: string }> {
  const openid = await client.getOpenIdToken();
  const res = await fetch(`${focus.livekit_service_url}/sfu/get`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ room: livekitRoom, openid_token: openid, device_id: client.getDeviceId() }),
  });
  assert.ok(res.ok, `sfu/get: ${res.status} ${await res.clone().text()}`);
  return (await res.json()) as { url: string; jwt: string };
}

export interface ElementCallOptions {
  toneHz: number;
  /** Send the org.matrix.msc4075.rtc.notification ring (the caller does). */
  ring?: boolean;
  video?: boolean;
}

/** One device's participation in the room's MatrixRTC call. */
export class ElementCall {
  readonly session: MatrixRTCSession;
  private page: RtcPage | undefined;
  /** Keys seen so far, by LiveKit identity: replayed into the page when it opens. */
  readonly keys = new Map<string, { key: Uint8Array; index: number }>();
  /** Media keys this device sent (index and devices, no key), for a failing test to show. */
  readonly sent: string[] = [];
  /**
   * Key sends to drop (they seem to succeed), as Synapse can lose a to-device message on its way
   * to an appservice: the ghost must ask again.
   */
  dropKeySends = 0;

  constructor(
    readonly client: MatrixClient,
    readonly room: Room,
    private readonly browser: RtcBrowser,
  ) {
    this.session = client.matrixRTC.getRoomSession(room);
    const send = client.encryptAndSendToDevice.bind(client);
    client.encryptAndSendToDevice = async (type, devices, payload) => {
      const index = (payload as { keys?: { index?: number } }).keys?.index;
      const to = devices.map((d) => d.deviceId).join(",");
      if (index !== undefined && this.dropKeySends > 0) {
        this.dropKeySends--;
        this.sent.push(`${new Date().toISOString().slice(11, 23)} ${type} #${index} -> ${to} dropped`);
        return;
      }
      try {
        await send(type, devices, payload);
        this.sent.push(`${new Date().toISOString().slice(11, 23)} ${type} #${index} -> ${to}`);
      } catch (err) {
        this.sent.push(
          `${new Date().toISOString().slice(11, 23)} ${type} #${index} -> ${to} failed: ${String(err)}`,
        );
        throw err;
      }
    };
    this.session.on(MatrixRTCSessionEvent.EncryptionKeyChanged, (key, index, _membership, identity) => {
      this.keys.set(identity, { key, index });
      void this.page?.setKey(identity, key, index).catch(() => undefined);
    });
  }

  get identity(): string {
    return `${this.client.getUserId()}:${this.client.getDeviceId()}`;
  }

  /** Joins (or starts) the call: membership, keys, token, LiveKit connection, tone and camera. */
  async join(focus: LivekitFocus, o: ElementCallOptions): Promise<RtcPage> {
    // As Element Web and Element Call choose: per-participant media keys only in an encrypted
    // room (element-call src/e2ee/sharedKeyManagement.ts), else no keys and plain frames.
    const e2ee = this.room.hasEncryptionStateEvent();
    this.session.joinRoomSession([{ ...focus, livekit_alias: this.room.roomId }], undefined, {
      manageMediaKeys: e2ee,
      ...(o.ring ? { notificationType: "ring", callIntent: o.video === false ? "audio" : "video" } : {}),
    });
    const { url, jwt } = await livekitToken(this.client, focus, this.room.roomId);
    const page = await this.browser.newPage();
    this.page = page;
    for (const [identity, k] of this.keys) await page.setKey(identity, k.key, k.index);
    await page.connect(url, jwt, o.toneHz, o.video ?? true, e2ee);
    // Again once the room exists: a key set before it may not reach its E2EE worker (seen: a
    // second call in the same session had no own key at index 0 and sent nothing).
    for (const [identity, k] of this.keys) await page.setKey(identity, k.key, k.index);
    return page;
  }

  get media(): RtcPage {
    return this.page ?? assert.fail("not joined");
  }

  async hangup(): Promise<void> {
    await this.page?.disconnect();
    await this.page?.close();
    this.page = undefined;
    await this.session.leaveRoomSession(30_000);
    this.silenceLeftKeys();
    // Element Call starts each call with an empty key provider.
    this.keys.clear();
  }

  /**
   * matrix-js-sdk 43's MatrixRTCSession keeps a left call's RTCEncryptionManager answering
   * membership changes: it rotates its key, sends it to the members, and a second later emits it as
   * this device's own key. Emitted after the next join, that key went into the new call's page,
   * which then encrypted with a key and index nobody in the new call had (a flaky "Joe decoded 0").
   * leave() should stop it; until it does, the left manager is silenced here.
   */
  private silenceLeftKeys(): void {
    const left = (this.session as unknown as { encryptionManager?: Record<string, unknown> })
      .encryptionManager;
    if (!left) return; // never joined
    assert.ok(
      "manageMediaKeys" in left && typeof left.onEncryptionKeysChanged === "function",
      "matrix-js-sdk's RTCEncryptionManager changed: check ElementCall.silenceLeftKeys",
    );
    left.manageMediaKeys = false; // its ensureKeyDistribution does nothing then
    left.onEncryptionKeysChanged = () => undefined; // a rollout already running emits nothing
  }
}
