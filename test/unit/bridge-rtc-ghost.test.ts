// The ghost's Matrix side of a bridged MatrixRTC call (src/bridge/adapters/rtc/rtc-ghost.ts) against
// a recording homeserver stand-in: each action goes out as the ghost on the right path, the
// homeserver's answers are validated, and the media key goes to the ghost's crypto as Element
// Call's content. (Unit test: the Olm part itself is bridge-rtc-media-keys.test.ts.)
import assert from "node:assert/strict";
import { rtcGhostPort, type GhostCrypto } from "../../src/bridge/adapters/rtc/rtc-ghost.js";
import type { As, MatrixRequests } from "../../src/bridge/adapters/crypto/matrix-requests.js";
import type { Json } from "../../src/bridge/adapters/crypto/transaction-extensions.js";
import { parseEncryptionKeys } from "../../src/bridge/adapters/rtc/rtc-events.js";

const GHOST = "@_people_joe=40b.test:hs.test";
const ROOM = "!dm:hs.test";

interface Call {
  method: string;
  path: string;
  as: As;
  body: unknown;
}

function world(answer: (c: Call) => Json) {
  const calls: Call[] = [];
  const http: MatrixRequests = {
    request: (method, path, as, body) => {
      const c = { method, path, as, body };
      calls.push(c);
      return Promise.resolve(answer(c));
    },
    requestJson: () => Promise.reject(new Error("not used")),
  };
  const sentKeys: { user: string; targets: unknown; type: string; content: Json }[] = [];
  let unknown: string[] = [];
  const crypto: GhostCrypto = {
    deviceOf: () => Promise.resolve("GHOSTDEV"),
    sendEncryptedToDevice: (user, targets, type, content) => {
      sentKeys.push({ user, targets, type, content });
      return Promise.resolve(unknown);
    },
  };
  const sent: unknown[] = [];
  const asked: { roomId: string; asUser: string }[] = [];
  const port = rtcGhostPort({
    http,
    crypto,
    isEncrypted: (roomId, asUser) => {
      asked.push({ roomId, asUser });
      return Promise.resolve(roomId === ROOM);
    },
    ghosts: {
      sendEvent: (...args: unknown[]) => {
        sent.push(args);
        return Promise.resolve("$sent" as never);
      },
      roomState: (_g, _r, type) =>
        Promise.resolve(type === "m.room.power_levels" ? { content: { users_default: 0 } } : undefined),
    },
  });
  return { port, calls, sentKeys, sent, asked, setUnknown: (u: string[]) => (unknown = u) };
}

describe("MatrixRTC: the ghost's Matrix side (rtc-ghost)", () => {
  it("schedules the ghost's delayed leave (MSC4140) as the ghost, then restarts and cancels it by its id", async () => {
    const w = world((c) => (c.method === "PUT" ? { delay_id: "syd_abc" } : {}));
    const key = `_${GHOST}_GHOSTDEV_m.call`;
    assert.equal(await w.port.scheduleLeave!(GHOST, "!r:hs", key, 30_000), "syd_abc");
    await w.port.refreshLeave!(GHOST, "syd_abc");
    await w.port.cancelLeave!(GHOST, "syd_abc");
    assert.deepEqual(
      w.calls.map((c) => [c.method, c.path, c.as, c.body]),
      [
        [
          "PUT",
          `/_matrix/client/v3/rooms/${encodeURIComponent("!r:hs")}/state/org.matrix.msc3401.call.member/` +
            `${encodeURIComponent(key)}?org.matrix.msc4140.delay=30000`,
          { userId: GHOST },
          {},
        ],
        [
          "POST",
          "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/syd_abc",
          { userId: GHOST },
          { action: "restart" },
        ],
        [
          "POST",
          "/_matrix/client/unstable/org.matrix.msc4140/delayed_events/syd_abc",
          { userId: GHOST },
          { action: "cancel" },
        ],
      ],
    );
  });

  it("refuses a delayed-event answer without a delay id", async () => {
    const w = world(() => ({ event_id: "$not-a-delay" }));
    await assert.rejects(w.port.scheduleLeave!(GHOST, "!r:hs", "k", 1000), /no delay id/);
  });

  it("reads a room's state as the ghost", async () => {
    const w = world(() => ({}));
    assert.deepEqual(await w.port.roomState!(GHOST, "!r:hs", "m.room.power_levels", ""), {
      users_default: 0,
    });
    assert.equal(await w.port.roomState!(GHOST, "!r:hs", "m.room.create", ""), undefined);
  });

  it("asks the homeserver for the ghost's OpenID token as the ghost, and returns it", async () => {
    const token = {
      access_token: "tok",
      token_type: "Bearer",
      matrix_server_name: "hs.test",
      expires_in: 3600,
    };
    const w = world(() => token);
    assert.deepEqual(await w.port.openIdToken(GHOST), token);
    assert.equal(w.calls.length, 1);
    assert.equal(w.calls[0]!.method, "POST");
    assert.equal(
      w.calls[0]!.path,
      `/_matrix/client/v3/user/${encodeURIComponent(GHOST)}/openid/request_token`,
    );
    assert.deepEqual(w.calls[0]!.as, { userId: GHOST });
  });

  it("refuses an OpenID answer without a usable token, with one clear error", async () => {
    for (const bad of [
      {},
      { access_token: "", token_type: "Bearer", matrix_server_name: "x", expires_in: 1 },
      {
        access_token: "t",
        token_type: "Bearer",
        matrix_server_name: "hs.test",
        expires_in: -5,
      },
    ]) {
      const w = world(() => bad as Json);
      await assert.rejects(w.port.openIdToken(GHOST), /no usable OpenID token/);
    }
  });

  it("sets the call membership as the ghost, on the state path of its state key", async () => {
    const w = world(() => ({ event_id: "$member" }));
    const stateKey = `_${GHOST}_GHOSTDEV_m.call`;
    const id = await w.port.setState(GHOST, ROOM, "org.matrix.msc3401.call.member", stateKey, { a: 1 });
    assert.equal(id, "$member");
    const c = w.calls[0]!;
    assert.equal(c.method, "PUT");
    assert.equal(
      c.path,
      `/_matrix/client/v3/rooms/${encodeURIComponent(ROOM)}/state/org.matrix.msc3401.call.member/${encodeURIComponent(stateKey)}`,
    );
    assert.deepEqual(c.as, { userId: GHOST });
    assert.deepEqual(c.body, { a: 1 });
    const noId = world(() => ({}));
    await assert.rejects(noId.port.setState(GHOST, ROOM, "t", "", {}), /no event id/);
  });

  it("asks whether the room is encrypted as the ghost sees it", async () => {
    const w = world(() => ({}));
    assert.equal(await w.port.roomEncrypted(GHOST, ROOM), true);
    assert.equal(await w.port.roomEncrypted(GHOST, "!plain:hs.test"), false);
    assert.deepEqual(w.asked, [
      { roomId: ROOM, asUser: GHOST },
      { roomId: "!plain:hs.test", asUser: GHOST },
    ]);
  });

  it("sends the ring through the ghost's room events (encrypted there when the room is)", async () => {
    const w = world(() => ({}));
    await w.port.send(GHOST, ROOM, "org.matrix.msc4075.rtc.notification", { x: 1 }, "rtc.ring.s1");
    assert.deepEqual(w.sent, [[GHOST, ROOM, "org.matrix.msc4075.rtc.notification", { x: 1 }, "rtc.ring.s1"]]);
  });

  it("hands the media key to the ghost's crypto as Element Call's content, and fails when a device is unknown", async () => {
    const w = world(() => ({}));
    const key = Uint8Array.from({ length: 16 }, (_, i) => i);
    const targets = [{ userId: "@alice:hs.test", deviceId: "ALICEDEV" }];
    await w.port.sendMediaKey(GHOST, ROOM, targets, { index: 2, key });
    assert.equal(w.sentKeys.length, 1);
    const s = w.sentKeys[0]!;
    assert.equal(s.user, GHOST);
    assert.equal(s.type, "io.element.call.encryption_keys");
    assert.deepEqual(s.targets, targets);
    const parsed = parseEncryptionKeys(s.content);
    assert.ok(parsed.ok);
    assert.equal(parsed.value.roomId, ROOM);
    assert.equal(parsed.value.deviceId, "GHOSTDEV");
    assert.equal(parsed.value.index, 2);
    assert.deepEqual([...parsed.value.key], [...key]);
    w.setUnknown(["@alice:hs.test:ALICEDEV"]);
    await assert.rejects(w.port.sendMediaKey(GHOST, ROOM, targets, { index: 0, key }), /does not know/);
  });
});
