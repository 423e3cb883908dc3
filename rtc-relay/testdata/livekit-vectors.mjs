// Runs livekit-client's own E2EE worker (dist/livekit-client.e2ee.worker.mjs, the code a
// browser runs) in Node with fake encoded frames, and writes the frames it encrypted to
// livekit-vectors.json for framecrypt's Go tests. Usage, from the repo root:
//   node rtc-relay/testdata/livekit-vectors.mjs > rtc-relay/testdata/livekit-vectors.json
import { Buffer } from "node:buffer";
import { webcrypto as crypto } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import process from "node:process";
import { ReadableStream, WritableStream } from "node:stream/web";
import { setTimeout } from "node:timers";
import { pathToFileURL } from "node:url";

const require = createRequire(pathToFileURL(process.cwd() + "/package.json"));
const dist = dirname(require.resolve("livekit-client"));
const workerPath = join(dist, "livekit-client.e2ee.worker.mjs");

// The worker expects a dedicated-worker global: onmessage/postMessage on self.
const posted = [];
globalThis.self = globalThis;
globalThis.onmessage = null;
globalThis.postMessage = (msg) => posted.push(msg);
await import(pathToFileURL(workerPath).href);
const send = (kind, data) => globalThis.onmessage({ data: { kind, data } });
const settle = () => new Promise((r) => setTimeout(r, 50));

const identity = "@alice:example.org:DEVICE";
const material = Buffer.from("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", "hex");
const keyIndex = 3;

send("init", {
  loglevel: "warn",
  // Element Call's MatrixKeyProvider: per-participant keys, no ratcheting, 256 slots.
  keyProviderOptions: {
    sharedKey: false,
    ratchetSalt: "LKFrameEncryptionKey",
    ratchetWindowSize: 0,
    failureTolerance: 10,
    keyringSize: 256,
    keySize: 128,
  },
});
// As Element Call does: the key bytes imported as HKDF material (createKeyMaterialFromBuffer).
const cryptoKey = await crypto.subtle.importKey("raw", material, "HKDF", false, ["deriveBits", "deriveKey"]);
send("setKey", { participantIdentity: identity, key: cryptoKey, keyIndex, updateCurrentKeyIndex: true });
send("enable", { participantIdentity: identity, enabled: true });
await settle();

function frame(kind, payload, ssrc, timestamp, type) {
  const f = {
    data: new Uint8Array(payload).buffer,
    timestamp,
    getMetadata: () => ({
      synchronizationSource: ssrc,
      payloadType: kind === "audio" ? 111 : 96,
      mimeType: kind === "audio" ? "audio/opus" : "video/VP8",
    }),
  };
  if (type) f.type = type; // video frames have a type; audio frames have none
  return f;
}

async function encrypt(kind, trackId, frames) {
  const out = [];
  const readableStream = new ReadableStream({
    start(c) {
      for (const f of frames) c.enqueue(f);
      c.close();
    },
  });
  const writableStream = new WritableStream({ write: (f) => void out.push(f) });
  send("encode", {
    participantIdentity: identity,
    trackId,
    readableStream,
    writableStream,
    codec: kind === "video" ? "vp8" : undefined,
  });
  for (let i = 0; i < 100 && out.length < frames.length; i++) await settle();
  if (out.length !== frames.length)
    throw new Error(`worker encrypted ${out.length} of ${frames.length} frames`);
  return out.map((f) => Buffer.from(f.data).toString("base64"));
}

// Deterministic plaintexts. A VP8 keyframe has P bit 0 and the 3-byte start code at 3..5.
const bytes = (n, seed) => Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const opus = [bytes(1, 1), bytes(40, 2), bytes(120, 3)].map((b) => [0xfc, ...b.slice(1)]);
const vp8Key = [0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, ...bytes(300, 4)];
const vp8Delta = [0x31, 0x05, 0x00, ...bytes(90, 5)];

const audioFrames = opus.map((p, i) => frame("audio", p, 0x11223344, 960 * (i + 10), undefined));
const videoFrames = [
  frame("video", vp8Key, 0x55667788, 90000, "key"),
  frame("video", vp8Delta, 0x55667788, 93000, "delta"),
  frame("video", vp8Delta, 0x55667788, 96000, "delta"),
];
const audioOut = await encrypt("audio", "TR_audio", audioFrames);
const videoOut = await encrypt("video", "TR_video", videoFrames);
const errors = posted.filter((m) => m.kind === "error");
if (errors.length) throw new Error("worker reported errors: " + JSON.stringify(errors));

const entry = (kind, p, f, enc) => ({
  kind,
  ssrc: f.getMetadata().synchronizationSource,
  timestamp: f.timestamp,
  plaintext: Buffer.from(p).toString("base64"),
  encrypted: enc,
});
const vectors = {
  source:
    "livekit-client " +
    JSON.parse(readFileSync(join(dist, "..", "package.json"), "utf8")).version +
    " dist/livekit-client.e2ee.worker.mjs",
  material: material.toString("base64"),
  keyIndex,
  frames: [
    ...opus.map((p, i) => entry("audio", p, audioFrames[i], audioOut[i])),
    ...[vp8Key, vp8Delta, vp8Delta].map((p, i) => entry("vp8", p, videoFrames[i], videoOut[i])),
  ],
};
process.stdout.write(JSON.stringify(vectors, null, 2) + "\n");
process.exit(0);
