// `npm run bench calls`, Element ↔ People: Alice in headless Chromium
// (matrix-js-sdk's MatrixCall, the page of test/helpers/browser/) calls Joe, a
// People device on libwebrtc, through the real Synapse and the bridge; direct
// on loopback, and relay-only (Chromium's forceTURN with the homeserver's
// TURN credentials, Joe's relayOnly with his server's) through coturn.
// Figures are those of calls.ts, measured the same way at Joe's side:
// offer → connected (Alice places the call until Joe's media is up) and
// answer → first detected audio (Joe answers until the Goertzel filter on his
// decoded audio finds Alice's tone). The other way, People → Element, Joe
// calls Alice and the page answers as soon as it rings: offer → connected
// (Joe's call() until his media is up) and answer → first detected audio (the
// page is told to answer until Joe hears Alice's tone), relay-only with
// Chromium's forceTURN set before the call rings. calls.ts prints them next
// to two plain wrtc peers measured in the same run.
import { Preset } from "matrix-js-sdk";
import { ToneDetector } from "../src/people/client/calls/audio.js";
import type { IncomingCall } from "../src/people/client/calls/calls.js";
import { wrtcEngine } from "../src/people/client/calls/wrtc-engine.js";
import { BrowserAlice } from "../test/helpers/browser-call.js";
import { eventually, matrixApi } from "../test/helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf } from "../test/helpers/bridge-world.js";
import type { Coturn } from "../test/helpers/coturn.js";

const ALICE_HZ = 440;
const LIMIT_MS = 60_000;

export interface ElementRound {
  connectedMs: number;
  audioMs: number;
}

export interface ElementBench {
  /** Element → People: Alice calls, Joe answers. */
  round(relayOnly: boolean): Promise<ElementRound>;
  /** People → Element: Joe calls, Alice's page answers. */
  reverseRound(relayOnly: boolean): Promise<ElementRound>;
  stop(): Promise<void>;
}

/** Synapse (with coturn as its TURN), the bridge, Joe and Alice's browser, ready for rounds. */
export async function startElementBench(turn: Coturn): Promise<ElementBench> {
  const world = await BridgeWorld.start({
    permissions: { "@alice:localhost": "user" },
    otherConfig: { turn: turn.config() },
    synapseConfig: {
      turn_uris: turn.uris,
      turn_shared_secret: turn.secret,
      turn_user_lifetime: "1h",
      turn_allow_guests: true,
    },
  });
  let browser: BrowserAlice | undefined;
  try {
    const joeAddress = `joe@${OTHER}`;
    const joe = await world.startPeopleUser(joeAddress, { mediaEngine: wrtcEngine });
    const alice = await world.startMatrixUser("alice");
    const { room_id: portal } = await alice.client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [ghostOf(joeAddress)],
      is_direct: true,
    });
    await eventually(
      "Joe's ghost to join the portal",
      async () => {
        const res = await matrixApi(
          world.hs,
          alice.accessToken,
          "GET",
          `/_matrix/client/v3/rooms/${encodeURIComponent(portal)}/joined_members`,
        );
        return ghostOf(joeAddress) in (res.joined as Record<string, unknown>) ? true : undefined;
      },
      LIMIT_MS,
    );
    const res = await fetch(`${world.hs.url}/_matrix/client/v3/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: "alice" },
        password: "alice-password",
      }),
    });
    if (!res.ok) throw new Error(`login: ${res.status}`);
    const login = (await res.json()) as { user_id: string; access_token: string; device_id: string };
    browser = await BrowserAlice.launch();
    const page = browser;
    await page.run("start", {
      baseUrl: world.hs.url,
      userId: login.user_id,
      accessToken: login.access_token,
      deviceId: login.device_id,
      toneHz: ALICE_HZ,
      listenHz: 1000,
    });
    const rings: IncomingCall[] = [];
    joe.client.calls.on("incoming", (c) => rings.push(c));
    /** Joe calls Alice; her page answers as soon as it rings. */
    const reverse = async (relayOnly: boolean): Promise<ElementRound> => {
      const before = (await page.status()).incoming.length;
      const start = performance.now();
      const call = await joe.client.calls.call(`alice@${PEOPLE_DOMAIN}`, {
        media: "voice",
        audio: { silence: true },
        ...(relayOnly ? { relayOnly: true } : {}),
      });
      const heard = new ToneDetector(ALICE_HZ);
      call.on("audio", (a) => heard.push(a.samples, a.channels));
      const callId = await eventually(
        "Joe's call to ring in Element",
        async () => (await page.status()).incoming.slice(before).find((id) => id === call.id),
        LIMIT_MS,
      );
      const answerAt = performance.now();
      await page.run("answer", callId, false);
      await call.whenActive();
      const connectedMs = performance.now() - start;
      await eventually("Alice's tone at Joe", () => heard.found || undefined, LIMIT_MS);
      const audioMs = performance.now() - answerAt;
      const ended = call.whenEnded();
      await call.hangup();
      await ended;
      return { connectedMs, audioMs };
    };
    return {
      async round(relayOnly) {
        const n = rings.length;
        const start = performance.now();
        await page.run("place", portal, false, relayOnly);
        const ring = await eventually("Joe's device to ring", () => rings[n], LIMIT_MS);
        const answerAt = performance.now();
        const call = await joe.client.calls.answer(ring.session, {
          audio: { silence: true },
          ...(relayOnly ? { relayOnly: true } : {}),
        });
        const heard = new ToneDetector(ALICE_HZ);
        call.on("audio", (a) => heard.push(a.samples, a.channels));
        await call.whenActive();
        const connectedMs = performance.now() - start;
        await eventually("Alice's tone at Joe", () => heard.found || undefined, LIMIT_MS);
        const audioMs = performance.now() - answerAt;
        const ended = call.whenEnded();
        await page.run("hangup");
        await ended;
        return { connectedMs, audioMs };
      },
      async reverseRound(relayOnly) {
        await page.run("forceTurn", relayOnly);
        try {
          return await reverse(relayOnly);
        } finally {
          // Alice's own calls (round) choose their relay policy per call.
          await page.run("forceTurn", false);
        }
      },
      async stop() {
        await page.close();
        await world.stop();
      },
    };
  } catch (err) {
    await browser?.close();
    await world.stop();
    throw err;
  }
}
