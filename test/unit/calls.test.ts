// Calls without network: the DTLS fingerprint rule and the SDP helpers
// (property tests), the rt_* call schemas, TURN credentials, the tone
// detector, the Ogg Opus recorder read back and decoded, and WAV input.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import OpusScript from "opusscript";
import { ToneDetector, toneFrames, toneShare } from "../../src/people/client/calls/audio.js";
import { OggOpusWriter, readOggPackets } from "../../src/people/client/calls/ogg-opus.js";
import { readWav } from "../../src/people/client/calls/wav.js";
import { contentSchema } from "../../src/people/protocol/messages.js";
import {
  checkSdpFingerprint,
  formatFingerprint,
  parseFingerprint,
  sdpFingerprint,
  splitCandidates,
} from "../../src/people/protocol/sdp-fingerprint.js";
import { turnCredentials } from "../../src/people/server/turn-credentials.js";
import { parseServerConfig } from "../../src/people/server/config.js";

const hexPairs = (n: number) =>
  fc
    .array(fc.integer({ min: 0, max: 255 }), { minLength: n, maxLength: n })
    .map((bytes) => bytes.map((b) => b.toString(16).padStart(2, "0")).join(":"));
const fingerprint = fc.oneof(
  hexPairs(32).map((h) => `sha-256 ${h}`),
  hexPairs(48).map((h) => `sha-384 ${h}`),
  hexPairs(64).map((h) => `sha-512 ${h}`),
);
const sdpWith = (fps: string[]) =>
  [
    "v=0",
    "o=- 1 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    ...fps.flatMap((f, i) => [`m=audio 9 UDP/TLS/RTP/SAVPF 111`, `a=mid:${i}`, `a=fingerprint:${f}`]),
    "",
  ].join("\r\n");

describe("call signalling without network", () => {
  it("a fingerprint parses whatever its case, and formats back to the same value", () => {
    fc.assert(
      fc.property(fingerprint, fc.boolean(), (f, upper) => {
        const text = upper ? f.toUpperCase() : f;
        const parsed = parseFingerprint(text);
        assert(parsed);
        assert.deepEqual(parseFingerprint(formatFingerprint(parsed)), parsed);
        assert.equal(parsed.algorithm, f.split(" ")[0]);
      }),
    );
  });

  it("refuses malformed fingerprints: unknown hashes, wrong lengths, junk", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (junk) => {
        const p = parseFingerprint(junk);
        if (p) assert.match(formatFingerprint(p), /^sha-(256|384|512) ([0-9A-F]{2}:)+[0-9A-F]{2}$/);
      }),
    );
    for (const bad of [
      "sha-1 AB:CD",
      "md5 " + "AB:".repeat(15) + "AB",
      "sha-256 " + "AB:".repeat(30) + "AB",
      "sha-256 " + "ZZ:".repeat(31) + "ZZ",
    ])
      assert.equal(parseFingerprint(bad), undefined, bad);
  });

  it("the fingerprint rule: an SDP passes only when every a=fingerprint is the signed one", () => {
    fc.assert(
      fc.property(fingerprint, fingerprint, fc.integer({ min: 1, max: 4 }), (signed, other, n) => {
        const same = sdpWith(Array.from({ length: n }, () => signed));
        assert.equal(
          formatFingerprint(checkSdpFingerprint(same, signed.toUpperCase())),
          formatFingerprint(parseFingerprint(signed)!),
        );
        assert.equal(formatFingerprint(sdpFingerprint(same)), formatFingerprint(parseFingerprint(signed)!));
        if (parseFingerprint(other)!.hex === parseFingerprint(signed)!.hex) return;
        assert.throws(() => checkSdpFingerprint(sdpWith([other]), signed));
        // One foreign line among the right ones is enough to refuse.
        assert.throws(() => checkSdpFingerprint(sdpWith([signed, other]), signed));
        assert.throws(() => sdpFingerprint(sdpWith([signed, other])));
      }),
    );
    assert.throws(
      () => checkSdpFingerprint(sdpWith([]), "sha-256 " + "AB:".repeat(31) + "AB"),
      /no DTLS fingerprint/,
    );
  });

  it("an offer's candidates are taken out with their mid and m-line, the rest of the SDP kept as it was", () => {
    const sdp = [
      "v=0",
      "m=audio 9 X 111",
      "a=mid:a",
      "a=candidate:1 1 udp 1 127.0.0.1 5000 typ host",
      "a=end-of-candidates",
      "m=video 9 X 96",
      "a=mid:v",
      "a=candidate:2 1 udp 1 127.0.0.1 5002 typ host",
      "",
    ].join("\r\n");
    const split = splitCandidates(sdp);
    assert.equal(
      split.sdp,
      ["v=0", "m=audio 9 X 111", "a=mid:a", "m=video 9 X 96", "a=mid:v", ""].join("\r\n"),
    );
    assert.deepEqual(split.candidates, [
      { candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host", mid: "a", index: 0 },
      { candidate: "candidate:2 1 udp 1 127.0.0.1 5002 typ host", mid: "v", index: 1 },
    ]);
  });

  it("the schemas: a call offer has sdp and its fingerprint and no eph, a data offer the reverse; candidates are candidate lines", () => {
    const session = "A".repeat(21) + "A";
    const fp = "sha-256 " + "AB:".repeat(31) + "AB";
    const ok = (c: unknown) => contentSchema.safeParse(c).success;
    assert(ok({ type: "rt_offer", session, media: "voice", sdp: "v=0", dtls_fingerprint: fp }));
    assert(!ok({ type: "rt_offer", session, media: "voice", sdp: "v=0" }));
    assert(!ok({ type: "rt_offer", session, media: "video", sdp: "v=0", dtls_fingerprint: "sha-256 AB" }));
    assert(!ok({ type: "rt_offer", session, media: "data", sdp: "v=0", dtls_fingerprint: fp }));
    assert(!ok({ type: "rt_answer", session, eph: "A".repeat(43), sdp: "v=0", dtls_fingerprint: fp }));
    assert(
      ok({
        type: "rt_candidate",
        session,
        candidates: [{ candidate: "candidate:1 1 udp 1 10.0.0.1 9 typ host", mid: "0", index: 0 }],
      }),
    );
    assert(ok({ type: "rt_candidate", session, candidates: [{ candidate: "" }] }));
    assert(!ok({ type: "rt_candidate", session, candidates: [] }));
    assert(!ok({ type: "rt_candidate", session, candidates: [{ candidate: "a=candidate:1" }] }));
    assert(!ok({ type: "rt_candidate", session, candidates: [{ candidate: "candidate:1\r\na=evil" }] }));
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const parsed = contentSchema.safeParse({
          type: "rt_candidate",
          session,
          candidates: [{ candidate: text }],
        });
        if (parsed.success) assert(text === "" || (text.startsWith("candidate:") && !/[\r\n]/.test(text)));
      }),
    );
  });

  it("TURN credentials: username expiry:address, password HMAC-SHA1 of it under the shared secret; the config wants both", () => {
    const c = turnCredentials({
      uris: ["turn:t.example:3478"],
      secret: "s".repeat(20),
      address: "jane@a.test",
      now: 1_000_000,
      ttlMs: 60_000,
    });
    assert.equal(c.username, "1060:jane@a.test");
    assert.equal(c.password, createHmac("sha1", "s".repeat(20)).update("1060:jane@a.test").digest("base64"));
    assert.equal(c.ttl, 60);
    const base = { domain: "a.test" };
    assert.throws(
      () => parseServerConfig({ ...base, turn: { uris: ["turn:t:3478"] } }),
      /turn\.shared_secret/,
    );
    assert.throws(
      () => parseServerConfig({ ...base, turn: { uris: ["http://t"], shared_secret: "x".repeat(16) } }),
      /turn\.uris/,
    );
    assert.equal(
      parseServerConfig({
        ...base,
        turn: { uris: ["turn:t:3478"], shared_secret: "x".repeat(16), ttl: "10m" },
      }).turn.ttl,
      600_000,
    );
  });

  it("the tone detector finds a tone between DFT bins and not another one", () => {
    for (const hz of [440, 660, 880, 1000]) {
      const next = toneFrames(hz);
      const at = new ToneDetector(hz);
      const other = new ToneDetector(hz * 1.5);
      for (let i = 0; i < 30; i++) {
        const f = next();
        at.push(f);
        other.push(f);
      }
      assert(at.found, `${hz} Hz found`);
      assert(!other.found && other.hits === 0, `${hz * 1.5} Hz not in a ${hz} Hz tone`);
    }
    assert.equal(toneShare(new Int16Array(960), 440), 0, "silence");
  });

  it("the recorder writes Ogg Opus whose pages check out and whose audio decodes to the tone it was given", () => {
    const dir = mkdtempSync(join(tmpdir(), "people-ogg-"));
    try {
      const path = join(dir, "call.ogg");
      const w = new OggOpusWriter(path);
      const next = toneFrames(440);
      for (let i = 0; i < 100; i++) w.push(next()); // one second
      w.close();
      const { packets, lastGranule, eos } = readOggPackets(readFileSync(path));
      assert.equal(packets[0]!.toString("ascii", 0, 8), "OpusHead");
      assert.equal(packets[1]!.toString("ascii", 0, 8), "OpusTags");
      assert.equal(packets.length, 2 + 50);
      assert(eos, "the last page ends the stream");
      assert.equal(lastGranule, 312n + 48_000n);
      const decoder = new OpusScript(48_000, 1);
      const heard = new ToneDetector(440);
      for (const p of packets.slice(2)) {
        const pcm = decoder.decode(p);
        heard.push(new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2));
      }
      decoder.delete();
      assert(heard.found, "440 Hz in the decoded recording");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads 16-bit PCM WAV, mixing down to the first channel and resampling to 48 kHz; refuses other files", () => {
    const wav = (rate: number, channels: number, samples: number[]) => {
      const data = Buffer.alloc(samples.length * 2);
      samples.forEach((s, i) => data.writeInt16LE(s, i * 2));
      const fmt = Buffer.alloc(16);
      fmt.writeUInt16LE(1, 0);
      fmt.writeUInt16LE(channels, 2);
      fmt.writeUInt32LE(rate, 4);
      fmt.writeUInt32LE(rate * channels * 2, 8);
      fmt.writeUInt16LE(channels * 2, 12);
      fmt.writeUInt16LE(16, 14);
      const chunk = (id: string, body: Buffer) =>
        Buffer.concat([Buffer.from(id, "ascii"), Buffer.from(new Uint32Array([body.length]).buffer), body]);
      const body = Buffer.concat([Buffer.from("WAVE", "ascii"), chunk("fmt ", fmt), chunk("data", data)]);
      return Buffer.concat([
        Buffer.from("RIFF", "ascii"),
        Buffer.from(new Uint32Array([body.length]).buffer),
        body,
      ]);
    };
    assert.deepEqual([...readWav(wav(48_000, 2, [1, 100, 2, 200, 3, 300]))], [1, 2, 3]);
    assert.equal(readWav(wav(24_000, 1, [0, 100, 200, 300])).length, 8);
    assert.deepEqual([...readWav(wav(24_000, 1, [0, 100]))], [0, 50, 100, 100]);
    assert.throws(() => readWav(Buffer.from("not a wav file at all")), /WAV/);
  });
});
