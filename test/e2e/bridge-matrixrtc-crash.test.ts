// A bridge killed mid-call leaves no MatrixRTC call half alive. The bridge runs as its real command
// in a child process (bridge.matrixrtc.enabled, encryption.allow) against a real Synapse with what
// Element Call needs, livekit-server and the lk-jwt stand-in; Joe is a People device (libwebrtc) on
// the second People server; Alice is Element X's signalling only: matrix-js-sdk's MatrixRTCSession
// with Rust crypto (her call membership, her ring, her media keys over Olm), no Chromium. The
// ghost's LiveKit leg and the People leg are the bridge's real ones. What is asserted is the call's
// lifetime and the room, not media (bridge-matrixrtc.test.ts hears the tones):
// - People → Matrix, killed while the ghost rings: the homeserver's delayed leave (MSC4140) empties
//   the ghost's membership with the bridge still down; after the restart Joe's call gets the
//   bridge's hangup, "Missed call from joe@…" is in the room and the call's row is gone. The ring
//   also opened call membership to the portal's members (power level 0), which Alice's room lacked.
// - Matrix → People, killed mid-call (Joe answered, the ghost joined): restarted at once, the bridge
//   empties the ghost's membership, hangs up Joe's call, leaves "Call ended" and deletes the row.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { EventType, Preset, type Room } from "matrix-js-sdk";
import type { MatrixRTCSession } from "matrix-js-sdk/lib/matrixrtc/index.js";
import type { Call, IncomingCall } from "../../src/people/client/calls/calls.js";
import { wrtcEngine } from "../../src/people/client/calls/wrtc-engine.js";
import { matrixApi } from "../helpers/bridge-harness.js";
import { startCryptoUser, type CryptoUser } from "../helpers/crypto-user.js";
import { discoverFocus, type LivekitFocus } from "../helpers/element-call-user.js";
import type { Livekit } from "../helpers/livekit.js";
import type { LkJwtService } from "../helpers/lk-jwt-service.js";
import { eventually } from "../helpers/rtc-world.js";
import { rtcTestMedia, startRtcBridgeWorld } from "../helpers/rtc-bridge-world.js";
import { relayPidsUnder } from "../helpers/rtc-relay.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf } from "../helpers/bridge-world.js";

const JOE = `joe@${OTHER}`;
const GHOST = ghostOf(JOE);
const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const MEMBER = "org.matrix.msc3401.call.member";
const WAIT = Number(process.env.PEOPLE_TEST_RTC_WAIT ?? 150_000);

interface Row {
  call_id: string;
  state: string;
  session: string | null;
  ghost_device: string | null;
  delay_id: string | null;
}

/** The bridge's rtc_calls rows, read from the SQLite file the child process writes (never writing). */
function rtcRows(file: string): Row[] {
  if (!existsSync(file)) return [];
  const db = new Database(file, { timeout: 5_000 });
  try {
    db.pragma("query_only = 1");
    return db.prepare("SELECT call_id, state, session, ghost_device, delay_id FROM rtc_calls").all() as Row[];
  } catch {
    return []; // the table is made by the bridge's first start
  } finally {
    db.close();
  }
}

/** Whether a process still runs (and is no zombie). */
function alive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

describe("MatrixRTC through a bridge SIGKILLed mid-call: both legs end, the room is left clean", function () {
  this.timeout(8 * 60_000);
  let livekit: Livekit | undefined;
  let tokens: LkJwtService | undefined;
  let world: BridgeWorld | undefined;
  let alice: CryptoUser | undefined;
  let room: Room;
  let focus: LivekitFocus;
  let session: MatrixRTCSession;
  const rings: IncomingCall[] = [];

  const w = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const a = (): CryptoUser => alice ?? assert.fail("alice is not started");
  const joe = () => w().person(JOE).client;
  const rows = () => rtcRows(join(w().files.dir, "data", "bridge.db"));
  const state = (type: string, key: string) =>
    matrixApi(
      w().hs,
      a().accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/state/${encodeURIComponent(type)}/${encodeURIComponent(key)}`,
    );
  const ghostMember = (device: string) => state(MEMBER, `_${GHOST}_${device}_m.call`);
  const lines = (): string[] =>
    room
      .getLiveTimeline()
      .getEvents()
      .filter((e) => e.getSender() === GHOST && e.getContent().msgtype === "m.notice")
      .map((e) => String(e.getContent().body));
  const lineAfter = (at: number) => eventually("the call's line", async () => lines()[at], WAIT);

  /** The call's one row once it has what `ready` asks. */
  const rowWhen = (what: string, ready: (r: Row) => boolean) =>
    eventually(
      what,
      async () => {
        const all = rows();
        return all.length === 1 && ready(all[0]!) ? all[0] : undefined;
      },
      WAIT,
    );

  before(async function () {
    this.timeout(40 * 60_000); // a first run installs Synapse and builds livekit-server
    ({ livekit, tokens, world } = await startRtcBridgeWorld({ childProcess: true }));
    await w().startPeopleUser(JOE, { mediaEngine: wrtcEngine });
    joe().calls.on("incoming", (c) => rings.push(c));
    alice = await startCryptoUser(world.hs, "alice");
    // Alice's own encrypted DM, as Element X makes one: call membership at the default state
    // level (50), which the ghost's first ring opens to members.
    const { room_id: roomId } = await a().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [GHOST],
      is_direct: true,
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    room = await eventually("Alice's DM portal", async () => {
      const r = a().client.getRoom(roomId);
      return r?.getMember(GHOST)?.membership === "join" ? r : undefined;
    });
    focus = await discoverFocus(world.hs.url);
    session = a().client.matrixRTC.getRoomSession(room);
  });

  afterEach(function () {
    if (this.currentTest?.state !== "failed" || !world) return;
    for (const l of w().child.logs)
      if (/rtc|call|crash/i.test(JSON.stringify(l).slice(0, 400)))
        process.stderr.write(`[bridge] ${JSON.stringify(l).slice(0, 600)}\n`);
  });

  after(async function () {
    this.timeout(120_000);
    a().client.stopClient();
    await world?.stop();
    await tokens?.stop();
    await livekit?.stop();
  });

  it("Joe calls Alice, the bridge dies while the ghost rings: its delayed leave empties its membership; the restart hangs up Joe's call and leaves the missed call", async function () {
    const levels = await state("m.room.power_levels", "");
    assert.notEqual((levels.events as Record<string, number> | undefined)?.[MEMBER], 0, "not open before");
    // Long enough on Joe's side that only the bridge ends it.
    const joeCall: Call = await joe().calls.call(ALICE_PEOPLE, { media: "voice", timeoutMs: 10 * 60_000 });
    const ended = joeCall.whenEnded();
    const row = await rowWhen("the ringing call's row with its delayed leave", (r) => r.delay_id !== null);
    assert.equal(row.state, "ringing");
    assert.ok(row.session, "Joe's session recorded");
    const device = row.ghost_device ?? assert.fail("the ghost's device is recorded");
    await eventually("the ghost's membership", async () =>
      Object.keys(await ghostMember(device)).length > 0 ? true : undefined,
    );
    // The ring is the ghost's last step before Joe's offer is acknowledged to People: a kill before
    // it would have the offer delivered again, and ring anew, after the restart.
    await eventually("the ghost's ring in Alice's client", async () =>
      room
        .getLiveTimeline()
        .getEvents()
        .some((e) => e.getType() === EventType.RTCNotification && e.getSender() === GHOST)
        ? true
        : undefined,
    );
    const opened = await state("m.room.power_levels", "");
    for (const type of [MEMBER, "m.call.member"])
      assert.equal((opened.events as Record<string, number>)[type], 0, `${type} open to members`);

    const at = lines().length;
    await w().child.kill("SIGKILL");
    // With the bridge down, only the homeserver's delayed event can empty the membership.
    await eventually(
      "the delayed leave to empty the ghost's membership",
      async () => (Object.keys(await ghostMember(device)).length === 0 ? true : undefined),
      WAIT,
    );
    assert.equal(rows().length, 1, "the row waits for the restart");
    await w().child.start();
    const end = await ended;
    assert.deepEqual({ reason: end.reason, remote: end.remote }, { reason: "failed", remote: true });
    assert.equal(await lineAfter(at), `Missed call from ${JOE}`);
    await eventually("the row deleted", async () => (rows().length === 0 ? true : undefined), WAIT);
  });

  it("Alice calls Joe, the bridge dies mid-call: restarted, it empties the ghost's membership, hangs up Joe's call, leaves 'Call ended' and deletes the row", async function () {
    const ringsBefore = rings.length;
    session.joinRoomSession([{ ...focus, livekit_alias: room.roomId }], undefined, {
      manageMediaKeys: true,
      notificationType: "ring",
      callIntent: "audio",
    });
    const ring = await eventually("Joe's device rings", async () => rings[ringsBefore], WAIT);
    assert.equal(ring.from, ALICE_PEOPLE);
    const joeCall = await joe().calls.answer(ring.session, {});
    const ended = joeCall.whenEnded();
    await eventually(
      "the ghost in Alice's call",
      async () => (session.memberships.some((m) => m.sender === GHOST) ? true : undefined),
      WAIT,
    );
    const row = await rowWhen(
      "the active call's row",
      (r) => r.state === "active" && r.ghost_device !== null,
    );
    assert.equal(row.session, ring.session);
    const device = row.ghost_device!;

    // With the calls' media in the people-rtc-relay sidecar, the bridge's child: it must go too.
    const sidecars = rtcTestMedia() === "passthrough" ? relayPidsUnder() : [];
    if (rtcTestMedia() === "passthrough") assert.equal(sidecars.length, 1, "the bridge's sidecar");
    const at = lines().length;
    await w().child.kill("SIGKILL");
    await eventually(
      "the dead bridge's sidecar exits (its stdin closed)",
      async () => (sidecars.every((pid) => !alive(pid)) ? true : undefined),
      WAIT,
    );
    await w().child.start();
    const end = await ended;
    assert.deepEqual({ reason: end.reason, remote: end.remote }, { reason: "failed", remote: true });
    assert.equal(await lineAfter(at), "Call ended");
    assert.deepEqual(await ghostMember(device), {}, "the ghost's membership is empty");
    await eventually(
      "the ghost gone from Alice's call",
      async () => (session.memberships.some((m) => m.sender === GHOST) ? undefined : true),
      WAIT,
    );
    await eventually("the row deleted", async () => (rows().length === 0 ? true : undefined), WAIT);
    await session.leaveRoomSession(30_000);
  });
});
