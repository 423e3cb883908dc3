// The MatrixRTC routes startBridge adds with bridge.matrixrtc.enabled (src/bridge/rtc-wiring.ts),
// with fakes: MatrixRTC room events are taken and the rest left to the legacy calls; a People call
// offer to a user goes to the legacy flow when the homeserver advertises no LiveKit focus (here:
// nothing listens), as with the switch off. With a focus RtcCalls rings in the DM portal or in the one
// a first call makes: test/e2e/bridge-matrixrtc.test.ts proves that against Element Call.
import assert from "node:assert/strict";
import { RTC_NO_FOCUS_TEXT } from "../../src/bridge/adapters/rtc/rtc-content.js";
import type { RingingCall } from "../../src/bridge/core/ports/people-side.js";
import type { Portal } from "../../src/bridge/core/ports/store.js";
import { parseAddress } from "../../src/people/protocol/address.js";
import { createBridgeRtc } from "../../src/bridge/rtc-wiring.js";
import { FakeGhosts, FakePeople, incoming, silentLog } from "../helpers/portal-fakes.js";
import { freePort } from "../helpers/ports.js";

const ALICE = "@alice:hs.test";
const JOE = parseAddress("joe@other.test");
const ANN = parseAddress("ann@other.test");
const PORTAL: Portal = { roomId: "!dm:hs.test", matrixUser: ALICE, peopleAddress: JOE, createdAt: 1 };
const ANN_PORTAL: Portal = { roomId: "!ann:hs.test", matrixUser: ALICE, peopleAddress: ANN, createdAt: 2 };
const SDP = `v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 ${"AB:".repeat(31)}AB\r\n`;

describe("MatrixRTC routes in the running bridge (rtc-wiring) with fakes", function () {
  this.timeout(30_000);
  const ghosts = new FakeGhosts();
  const people = new FakePeople();
  const rings = new Map<string, RingingCall>();
  const rejected: { session: string; reason: string }[] = [];
  const made: { user: string; address: string }[] = [];
  let rtc: ReturnType<typeof createBridgeRtc>;

  before(async function () {
    Object.assign(await people.accountFor(ALICE), {
      calls: {
        ringing: (s: string) => rings.get(s),
        reject: async (session: string, reason: string) => void rejected.push({ session, reason }),
      },
    });
    rtc = createBridgeRtc({
      // Nothing listens there: the homeserver advertises no focus.
      homeserverUrl: `http://127.0.0.1:${await freePort()}`,
      http: { request: async () => ({}), requestJson: async () => ({}) },
      ghosts,
      crypto: {} as never,
      people,
      dms: {
        byRoom: async (id) =>
          id === PORTAL.roomId
            ? PORTAL
            : made.length > 0 && id === ANN_PORTAL.roomId
              ? ANN_PORTAL
              : undefined,
        byPair: async (user, address) => (user === ALICE && address === JOE ? PORTAL : undefined),
        ensurePortal: async (user, address) => {
          made.push({ user, address });
          return { portal: ANN_PORTAL };
        },
      },
      isEncrypted: async () => true,
      isGroupRoom: async () => false,
      botNotice: async () => undefined,
      log: silentLog,
    });
  });

  after(() => rtc?.stop());

  it("takes MatrixRTC room events and leaves the legacy call events", async function () {
    const base = { roomId: PORTAL.roomId, eventId: "$e", sender: ALICE, content: {} };
    assert.equal(await rtc.handle({ ...base, type: "org.matrix.msc3401.call.member", stateKey: "x" }), true);
    assert.equal(await rtc.handle({ ...base, type: "m.call.invite" }), false);
    assert.equal(await rtc.handle({ ...base, type: "m.room.message" }), false);
  });

  it("with no LiveKit focus advertised, a People call to a Matrix user rings the legacy way (no portal made, nothing refused)", async function () {
    const account = await people.accountFor(ALICE);
    const passed: string[] = [];
    const flow = rtc.withOwnFlow(async (_a, m) => void passed.push(String(m.content.type)));
    const offer = (session: string) => ({
      type: "rt_offer",
      session,
      media: "voice",
      sdp: SDP,
      dtls_fingerprint: `sha-256 ${"AB:".repeat(31)}AB`,
    });
    const s1 = "RRRRRRRRRRRRRRRRRRRRRA";
    rings.set(s1, { session: s1, from: JOE, device: "JOEDEV", media: "voice", sdp: SDP });
    await flow(account, incoming({ from: JOE, to: [account.address], content: offer(s1) as never }));
    const s2 = "SSSSSSSSSSSSSSSSSSSSSA";
    rings.set(s2, { session: s2, from: ANN, device: "ANNDEV", media: "voice", sdp: SDP });
    await flow(account, incoming({ from: ANN, to: [account.address], content: offer(s2) as never }));
    await flow(
      account,
      incoming({ from: JOE, to: [account.address], content: { type: "text", body: "hi" } as never }),
    );
    assert.deepEqual(passed, ["rt_offer", "rt_offer", "text"], "both offers went to the legacy flow");
    assert.deepEqual(rejected, [], "no call was refused");
    assert.deepEqual(made, [], "no portal was made by a call");
    assert.ok(!ghosts.sent.some((e) => e.content.body === RTC_NO_FOCUS_TEXT), "no notice");
  });
});
