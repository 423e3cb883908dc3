// What the MatrixRTC tests and the rtc bench share: livekit-server, the token service, a Synapse
// set up for Element Call (its well-known naming the token service), headless Chromium, and two
// Element X-like users (Rust crypto) in an encrypted DM where members may join the call.
import { startCryptoUser, type CryptoUser } from "./crypto-user.js";
import { discoverFocus, type LivekitFocus } from "./element-call-user.js";
import { elementCallSynapseOptions, startLivekit, type Livekit } from "./livekit.js";
import { startLkJwtService, type LkJwtService } from "./lk-jwt-service.js";
import { readySdkForNode } from "./matrix-sdk-node.js";
import { startRtcBrowser, type RtcBrowser, type RtcPage } from "./rtc-browser.js";
import { startSynapse, type SynapseHandle } from "./synapse.js";

export const trace = (what: string): void => {
  if (process.env.PEOPLE_TEST_RTC_TRACE) process.stderr.write(`[rtc] ${what}\n`);
};

/** Polls until probe gives a value (a thrown error counts as "not yet"), or fails after timeoutMs. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves when `page` hears a stable tone near `hz` from `identity`. */
export function hearsTone(page: RtcPage, identity: string, hz: number, timeoutMs?: number): Promise<true> {
  return eventually(
    `${identity}'s ${hz} Hz tone`,
    async () => {
      const s = (await page.state()).remotes[identity];
      return s && Math.abs(s.toneHz - hz) < 25 && s.toneHits >= 5 ? true : undefined;
    },
    timeoutMs,
  );
}

export interface RtcWorld {
  livekit: Livekit;
  tokens: LkJwtService;
  hs: SynapseHandle;
  browser: RtcBrowser;
  alice: CryptoUser;
  bob: CryptoUser;
  roomId: string;
  focus: LivekitFocus;
  /** A LiveKit URL and JWT for a fresh Matrix user's device, as the token service gives them. */
  tokenFor(localpart: string): Promise<{ url: string; jwt: string; identity: string }>;
  stop(): Promise<void>;
}

export async function startRtcWorld(): Promise<RtcWorld> {
  await readySdkForNode();
  const homeservers: Record<string, string> = {};
  const livekit = await startLivekit();
  const tokens = await startLkJwtService({
    livekitUrl: livekit.wsUrl,
    apiKey: livekit.apiKey,
    apiSecret: livekit.apiSecret,
    homeservers,
  });
  const hs = await startSynapse(elementCallSynapseOptions(tokens.url));
  homeservers[hs.serverName] = hs.url;
  const browser = await startRtcBrowser();
  const alice = await startCryptoUser(hs, "alice");
  const bob = await startCryptoUser(hs, "bob");
  const { room_id: roomId } = await alice.client.createRoom({
    invite: [bob.userId],
    is_direct: true,
    initial_state: [
      { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
    ],
    // As Element creates rooms: every member may join the room's call.
    power_level_content_override: {
      events: { "org.matrix.msc3401.call.member": 0, "org.matrix.msc4075.rtc.notification": 0 },
    },
  });
  await eventually("bob's invite", async () => (bob.client.getRoom(roomId) ? true : undefined));
  await bob.client.joinRoom(roomId);
  await eventually("both joined", async () =>
    alice.client.getRoom(roomId)?.getMember(bob.userId)?.membership === "join" ? true : undefined,
  );
  const focus = await discoverFocus(hs.url);
  return {
    livekit,
    tokens,
    hs,
    browser,
    alice,
    bob,
    roomId,
    focus,
    async tokenFor(localpart) {
      const user = await hs.registerUser(localpart, `${localpart}-password`);
      const res = await fetch(
        `${hs.url}/_matrix/client/v3/user/${encodeURIComponent(user.userId)}/openid/request_token`,
        {
          method: "POST",
          headers: { authorization: `Bearer ${user.accessToken}`, "content-type": "application/json" },
          body: "{}",
        },
      );
      const openid = (await res.json()) as Record<string, unknown>;
      const sfu = await fetch(`${focus.livekit_service_url}/sfu/get`, {
        method: "POST",
        body: JSON.stringify({ room: roomId, device_id: user.deviceId, openid_token: openid }),
      });
      if (!sfu.ok) throw new Error(`sfu/get for ${user.userId}: ${sfu.status}`);
      const { url, jwt } = (await sfu.json()) as { url: string; jwt: string };
      return { url, jwt, identity: `${user.userId}:${user.deviceId}` };
    },
    async stop() {
      for (const u of [alice, bob]) u.client.stopClient();
      await browser.close();
      await hs.stop();
      await tokens.stop();
      await livekit.stop();
    },
  };
}
