// The MatrixRTC parsers (src/bridge/adapters/rtc): what Element Call sends parses into typed values;
// anything else, hostile or random, is refused with a reason and never throws.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  DEFAULT_RING_LIFETIME_MS,
  parseCallMember,
  parseEncryptionKeys,
  parseRtcNotification,
} from "../../src/bridge/adapters/rtc/rtc-events.js";
import { livekitFocusOf, livekitIdentity } from "../../src/bridge/adapters/rtc/rtc-foci.js";

// What matrix-js-sdk 43's MembershipManager sends for Element Call (legacy state event).
const MEMBER = {
  application: "m.call",
  call_id: "",
  scope: "m.room",
  device_id: "ABCDEF",
  expires: 14_400_000,
  created_ts: 1_780_000_000_000,
  focus_active: { type: "livekit", focus_selection: "oldest_membership" },
  foci_preferred: [
    { type: "livekit", livekit_service_url: "https://lk-jwt.example.org", livekit_alias: "!r:hs" },
  ],
  "m.call.intent": "video",
};

const KEYS = {
  keys: { index: 0, key: Buffer.alloc(16, 7).toString("base64") },
  room_id: "!room:localhost",
  member: { claimed_device_id: "ABCDEF", id: "member-1" },
  session: { call_id: "", application: "m.call", scope: "m.room" },
  sent_ts: 1_780_000_000_000,
};

const anyJson = fc.oneof(fc.jsonValue(), fc.object(), fc.anything());

describe("MatrixRTC event parsers", function () {
  it("reads Element Call's call member event, and an empty one as leaving", function () {
    const r = parseCallMember(MEMBER);
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      kind: "joined",
      deviceId: "ABCDEF",
      callId: "",
      livekit: MEMBER.foci_preferred[0],
      intent: "video",
      expires: 14_400_000,
      createdTs: 1_780_000_000_000,
    });
    assert.deepEqual(parseCallMember({}), { ok: true, value: { kind: "left" } });
  });

  it("refuses a call member of another application or without a device", function () {
    assert.equal(parseCallMember({ ...MEMBER, application: "m.game" }).ok, false);
    const { device_id: _d, ...noDevice } = MEMBER;
    const r = parseCallMember(noDevice);
    assert.ok(!r.ok && r.reason.includes("device_id"));
    // A focus that is not an http(s) URL is not a LiveKit focus to use.
    const odd = parseCallMember({
      ...MEMBER,
      foci_preferred: [{ type: "livekit", livekit_service_url: "file:///etc" }],
    });
    assert.ok(odd.ok && odd.value.kind === "joined" && odd.value.livekit === undefined);
  });

  it("reads the ring notification with Element Call's default lifetime", function () {
    const r = parseRtcNotification({ notification_type: "ring", "m.mentions": { user_ids: ["@g:hs"] } });
    assert.deepEqual(r, {
      ok: true,
      value: { ring: true, mentions: ["@g:hs"], intent: undefined, lifetimeMs: DEFAULT_RING_LIFETIME_MS },
    });
    assert.equal(parseRtcNotification({ notification_type: "ring" }).ok, false, "m.mentions is required");
  });

  it("reads a media key and refuses short or malformed ones", function () {
    const r = parseEncryptionKeys(KEYS);
    assert.ok(r.ok);
    assert.equal(r.value.deviceId, "ABCDEF");
    assert.deepEqual([...r.value.key], [...Buffer.alloc(16, 7)]);
    assert.equal(parseEncryptionKeys({ ...KEYS, keys: { index: 0, key: "AAAA" } }).ok, false);
    assert.equal(parseEncryptionKeys({ ...KEYS, keys: { index: 256, key: KEYS.keys.key } }).ok, false);
    assert.equal(parseEncryptionKeys({ ...KEYS, keys: { index: 0, key: "not base64!" } }).ok, false);
    assert.equal(parseEncryptionKeys({ ...KEYS, room_id: "room" }).ok, false);
  });

  it("finds the LiveKit focus in the well-known document", function () {
    const wk = {
      "m.homeserver": { base_url: "https://hs" },
      "org.matrix.msc4143.rtc_foci": [
        { type: "other" },
        { type: "livekit", livekit_service_url: "https://jwt" },
      ],
    };
    assert.deepEqual(livekitFocusOf(wk), {
      ok: true,
      value: { type: "livekit", livekit_service_url: "https://jwt" },
    });
    assert.equal(livekitFocusOf({ "m.homeserver": {} }).ok, false);
    assert.equal(livekitIdentity("@a:hs", "DEV"), "@a:hs:DEV");
  });

  it("never throws on arbitrary input (property)", function () {
    fc.assert(
      fc.property(anyJson, (input) => {
        for (const parse of [parseCallMember, parseRtcNotification, parseEncryptionKeys, livekitFocusOf]) {
          const r = parse(input);
          assert.ok(r.ok || (typeof r.reason === "string" && r.reason.length > 0));
        }
      }),
      { numRuns: 500 },
    );
  });

  it("refuses every mutation of one field of a valid media key that breaks its type (property)", function () {
    fc.assert(
      fc.property(
        fc.constantFrom("keys", "room_id", "member", "session"),
        fc.oneof(fc.integer(), fc.constant(null), fc.boolean(), fc.array(fc.integer())),
        (field, value) => {
          assert.equal(parseEncryptionKeys({ ...KEYS, [field]: value }).ok, false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
