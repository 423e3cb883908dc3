#!/usr/bin/env node
// A stand-in for the people-rtc-relay sidecar (rtc-relay/, Go) speaking its JSON-lines contract
// (docs/ARCHITECTURE.md, "MatrixRTC calls"), for the bridge's unit tests. It carries no media:
// `media` events and stats count as if one frame went each way once connected and `from` is set.
// Misbehaviour on demand, from the environment:
//   FAKE_RELAY_GARBAGE=1        garbage lines around every reply (not JSON, arrays, unknown ids,
//                               events of unknown calls, one line over 1 MiB at hello)
//   FAKE_RELAY_HELLO=bad        hello answers version "0"
//   FAKE_RELAY_CRASH_ON=<op>    exits (code 3, no reply) on that op, once per FAKE_RELAY_MARK file
//   FAKE_RELAY_SILENT_ON=<op>   never answers that op
//   FAKE_RELAY_LOG=<file>       appends each request's op there (never its fields)
//   FAKE_RELAY_LOG_FIELDS=1     its first log line has the Go relay's attributes, and ones it never
//                               writes (a key, an SDP, an object)
"use strict";
const { appendFileSync, existsSync, writeFileSync } = require("node:fs");

const env = process.env;
const calls = new Map();
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const garbage = () => {
  if (env.FAKE_RELAY_GARBAGE !== "1") return;
  process.stdout.write("this is not json\n");
  process.stdout.write("[1,2,3]\n");
  process.stdout.write('{"id":999999,"ok":true}\n');
  process.stdout.write('{"id":"x","ok":true}\n');
  process.stdout.write('{"event":"state","call":"nobody","state":"connected"}\n');
  process.stdout.write('{"event":"boom","call":"x"}\n');
  process.stdout.write("\n");
};
process.stderr.write(`${JSON.stringify({ level: "info", msg: "fake relay up" })}\n`);
if (env.FAKE_RELAY_LOG_FIELDS === "1")
  process.stderr.write(
    `${JSON.stringify({
      level: "INFO",
      msg: "a LiveKit frame could not be opened",
      call: "c1",
      identity: "@alice:hs:DEVICE",
      video: true,
      reason: "no key at index",
      key: "c2VjcmV0LWtleQ==",
      sdp: "v=0 o=- 1 1",
      error: { nested: "object" },
    })}\n`,
  );

function handle(req) {
  const { id, op, call } = req;
  if (env.FAKE_RELAY_LOG) appendFileSync(env.FAKE_RELAY_LOG, `${op}\n`);
  if (env.FAKE_RELAY_CRASH_ON === op && !(env.FAKE_RELAY_MARK && existsSync(env.FAKE_RELAY_MARK))) {
    if (env.FAKE_RELAY_MARK) writeFileSync(env.FAKE_RELAY_MARK, "crashed");
    process.exit(3);
  }
  if (env.FAKE_RELAY_SILENT_ON === op) return;
  garbage();
  const ok = (r = {}) => out({ id, ok: true, ...r });
  const c = calls.get(call);
  const media = () => {
    if (!c || !c.connected || !c.from || c.flowing) return;
    c.flowing = true;
    for (const direction of ["toPeople", "toMatrix"]) out({ event: "media", call, direction, kind: "audio" });
  };
  switch (op) {
    case "hello":
      if (env.FAKE_RELAY_GARBAGE === "1") process.stdout.write(`${"x".repeat(1024 * 1024 + 10)}\n`);
      return ok(
        env.FAKE_RELAY_HELLO === "bad"
          ? { version: "0", codecs: [] }
          : { version: "1", codecs: ["opus", "vp8"] },
      );
    case "open":
      calls.set(call, { media: req.media, connected: false, from: undefined, flowing: false, keys: 0 });
      ok();
      return out({ event: "state", call, state: "new" });
    case "close":
      calls.delete(call);
      return ok();
    default:
      break;
  }
  if (!c) return out({ id, ok: false, error: "unknown call" });
  switch (op) {
    case "offer":
      ok({ sdp: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n" });
      out({
        event: "candidate",
        call,
        candidate: { candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", sdpMid: "0", sdpMLineIndex: 0 },
      });
      return out({ event: "candidate", call, candidate: null });
    case "acceptOffer":
      return ok({ sdp: "v=0\r\no=- 2 2 IN IP4 127.0.0.1\r\n" });
    case "acceptAnswer":
      ok();
      return out({ event: "state", call, state: "connected" });
    case "candidate":
      return ok();
    case "fingerprint":
      return ok({ fingerprint: null });
    case "connect":
      c.connected = true;
      ok();
      return media();
    case "setKey":
      c.keys++;
      return ok();
    case "from":
      c.from = req.identity;
      ok();
      return media();
    case "stats": {
      const n = c.flowing ? 1 : 0;
      return ok({
        toPeople: { audio: n, video: 0 },
        toMatrix: { audio: n, video: 0 },
        decryptFailures: 0,
        keyframeRequests: c.keys,
      });
    }
    case "leave": // test-only: the LiveKit participant `identity` leaves
      ok();
      return out({ event: "left", call, identity: req.identity });
    default:
      return out({ id, ok: false, error: `unknown op ${op}` });
  }
}

let buf = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buf += chunk;
  for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    let req;
    try {
      req = JSON.parse(line);
    } catch {
      out({ id: null, ok: false, error: "not JSON" });
      continue;
    }
    handle(req);
  }
});
process.stdin.on("end", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0));
