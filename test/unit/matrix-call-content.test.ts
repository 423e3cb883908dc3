// Element's call events checked once at the edge (bridge/calls/matrix-call-content.ts):
// well-formed ones become typed values, anything else a refusal that never throws.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CALL_EVENT_TYPES,
  MAX_LIFETIME_MS,
  candidatesContent,
  matrixReason,
  parseCallEvent,
  peopleReason,
} from "../../src/bridge/calls/matrix-call-content.js";
import { matrixBatches } from "../../src/bridge/calls/call-context.js";

const FP = `a=fingerprint:sha-256 ${"AB:".repeat(31)}AB\r\n`;
const audioSdp = `v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n${FP}`;
const videoSdp = `${audioSdp}m=video 9 UDP/TLS/RTP/SAVPF 96\r\n${FP}`;

describe("Matrix call events (m.call.*)", function () {
  it("reads an invite's media, party and lifetime (capped), as matrix-js-sdk sends it", function () {
    const r = parseCallEvent("m.call.invite", {
      call_id: "c1",
      party_id: "p1",
      version: "1",
      lifetime: 600_000,
      offer: { type: "offer", sdp: videoSdp },
    });
    assert.ok(r.ok);
    assert.deepEqual(r.event, {
      kind: "invite",
      callId: "c1",
      partyId: "p1",
      lifetimeMs: MAX_LIFETIME_MS,
      sdp: videoSdp,
      media: "video",
    });
    const voice = parseCallEvent("m.call.invite", {
      call_id: "c2",
      version: 0,
      offer: { type: "offer", sdp: audioSdp },
    });
    assert.ok(voice.ok && voice.event.kind === "invite");
    assert.equal(voice.event.media, "voice");
    assert.equal(voice.event.partyId, null, "version 0 has no party id");
  });

  it("maps candidates to People's form, keeps the end of candidates, drops lines People refuses", function () {
    const r = parseCallEvent("m.call.candidates", {
      call_id: "c1",
      party_id: "p",
      version: "1",
      candidates: [
        { candidate: "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host", sdpMid: "0", sdpMLineIndex: 0 },
        { candidate: "a=candidate:bad", sdpMid: "0", sdpMLineIndex: 0 },
        { candidate: "" },
      ],
    });
    assert.ok(r.ok && r.event.kind === "candidates");
    assert.deepEqual(r.event.candidates, [
      { candidate: "candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host", mid: "0", index: 0 },
      { candidate: "" },
    ]);
  });

  it("refuses malformed events with a reason, for any content", function () {
    fc.assert(
      fc.property(fc.constantFrom(...CALL_EVENT_TYPES, "m.room.message"), fc.anything(), (type, content) => {
        const r = parseCallEvent(type, content);
        if (!r.ok) assert.ok(r.why.length > 0);
        else assert.equal(typeof r.event.callId, "string");
      }),
      { numRuns: 2000 },
    );
    assert.equal(
      parseCallEvent("m.call.invite", { call_id: "c", offer: { type: "answer", sdp: "x" } }).ok,
      false,
    );
    assert.equal(
      parseCallEvent("m.call.answer", { call_id: "", answer: { type: "answer", sdp: "x" } }).ok,
      false,
    );
  });

  it("round-trips candidates through the ghost's m.call.candidates, in batches of at most 64 with the end last", function () {
    const cand = fc
      .record({
        candidate: fc.constantFrom(
          "candidate:1 1 udp 1 127.0.0.1 5000 typ host",
          "candidate:2 1 tcp 1 ::1 9 typ host",
        ),
        mid: fc.constantFrom("0", "1"),
        index: fc.integer({ min: 0, max: 3 }),
      })
      .map((c) => ({ ...c }));
    fc.assert(
      fc.property(fc.array(cand, { maxLength: 200 }), fc.boolean(), (list, end) => {
        const all = end ? [...list, { candidate: "" }] : list;
        const batches = matrixBatches(all);
        assert.ok(batches.every((b) => b.length >= 1 && b.length <= 64));
        const flat = batches.flat();
        assert.equal(flat.length, all.length);
        if (end) assert.equal(flat.at(-1)!.candidate, "");
        for (const b of batches) {
          const r = parseCallEvent("m.call.candidates", candidatesContent("c", "p", b));
          assert.ok(r.ok && r.event.kind === "candidates");
          assert.deepEqual(r.event.candidates, b);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("maps hangup reasons both ways", function () {
    assert.equal(matrixReason("timeout"), "invite_timeout");
    assert.equal(matrixReason("busy"), "user_busy");
    assert.equal(matrixReason("normal"), "user_hangup");
    assert.equal(peopleReason("invite_timeout"), "timeout");
    assert.equal(peopleReason(undefined), "normal");
    assert.equal(peopleReason("ice_failed"), "failed");
  });
});
