// The people-rtc-relay sidecar's client (src/bridge/adapters/rtc/relay-process.ts, relay-call.ts,
// media-mode.ts) against a stand-in child (test/helpers/fake-rtc-relay.cjs) speaking the contract:
// requests and replies by id, per-call events, garbage lines from the child, a child that dies
// mid-request (its calls are told, the next request starts a new one), a failed hello, stop, and
// the fallback to transcode when the sidecar is missing or its hello fails.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { callMediaModes } from "../../src/bridge/adapters/rtc/media-mode.js";
import { RelayCallMedia } from "../../src/bridge/adapters/rtc/relay-call.js";
import { RelayProcess, type RelayCallEvent } from "../../src/bridge/adapters/rtc/relay-process.js";
import type { CallMedia } from "../../src/bridge/adapters/rtc/rtc-call-ports.js";
import type { Logger } from "../../src/bridge/core/ports/logger.js";

/** Waits for `probe` to come true (polled; the child answers when the loaded machine lets it). */
async function eventually(probe: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error("the condition did not come true in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const FAKE = resolve(__dirname, "..", "helpers", "fake-rtc-relay.cjs");

/** A logger that keeps each line's message and fields (to check what is, and is not, logged). */
function recordingLog(): Logger & { lines: { level: string; msg: string; fields: string }[] } {
  const lines: { level: string; msg: string; fields: string }[] = [];
  const at =
    (level: string) =>
    (a: object | string, b?: string): void =>
      void lines.push(
        typeof a === "string"
          ? { level, msg: a, fields: "" }
          : { level, msg: b ?? "", fields: JSON.stringify(a) },
      );
  const log: Logger & { lines: typeof lines } = {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    lines,
    child: () => log,
  };
  return log;
}

function relay(env: Record<string, string> = {}, log = recordingLog()) {
  const r = new RelayProcess({ binary: FAKE, env, log, requestTimeoutMs: 20_000, stopGraceMs: 2_000 });
  return { r, log };
}

const alive = (pid: number | undefined): boolean => {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("people-rtc-relay client (relay-process) against a stand-in sidecar", function () {
  this.timeout(60_000);
  let dir: string;
  const running: RelayProcess[] = [];
  const start = (env: Record<string, string> = {}) => {
    const made = relay(env);
    running.push(made.r);
    return made;
  };

  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "relay-test-"))));
  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("checks hello, answers requests by id and hands each call its own events", async function () {
    const { r } = start();
    await r.ensure();
    assert.equal(r.starts, 1);
    const events: RelayCallEvent[] = [];
    r.listen("c1", (e) => events.push(e));
    const other: RelayCallEvent[] = [];
    r.listen("c2", (e) => other.push(e));
    await r.request("open", { call: "c1", media: "voice", iceServers: [], relayOnly: false });
    const [a, b] = await Promise.all([
      r.request("offer", { call: "c1" }, z.looseObject({ sdp: z.string() })),
      r.request("fingerprint", { call: "c1" }, z.looseObject({ fingerprint: z.null() })),
    ]);
    assert.match(a.sdp, /^v=0/);
    assert.equal(b.fingerprint, null);
    await eventually(() => events.some((e) => e.event === "candidate" && e.candidate === null));
    assert.deepEqual(
      events.map((e) => e.event),
      ["state", "candidate", "candidate"],
    );
    assert.deepEqual(other, [], "another call hears none of c1's events");
    await assert.rejects(r.request("offer", { call: "nope" }), /unknown call/);
    await assert.rejects(r.request("bogus", { call: "c1" }), /unknown op/);
  });

  it("garbage from the child (not JSON, arrays, unknown ids, a line over 1 MiB) is dropped and logged without its content", async function () {
    const { r, log } = start({ FAKE_RELAY_GARBAGE: "1" });
    await r.ensure();
    await r.request("open", { call: "g", media: "voice", iceServers: [], relayOnly: false });
    const s = await r.request("offer", { call: "g" }, z.looseObject({ sdp: z.string() }));
    assert.match(s.sdp, /^v=0/, "the real reply among the garbage is found");
    const dropped = log.lines.filter((l) => l.msg === "a line from the rtc relay was dropped");
    assert.ok(
      dropped.length >= 1 && dropped.length <= 5,
      `logged a few times, not per line: ${dropped.length}`,
    );
    assert.ok(!log.lines.some((l) => l.fields.includes("xxxx") || l.fields.includes("not json")));
    assert.ok(!log.lines.some((l) => l.fields.includes("v=0")), "no SDP in the log");
  });

  it("keeps the relay's log attributes that name the call, participant, track and reason, and no others", async function () {
    const { r, log } = start({ FAKE_RELAY_LOG_FIELDS: "1" });
    await r.ensure();
    await eventually(() => log.lines.some((l) => l.fields.includes("could not be opened")));
    const line = log.lines.find((l) => l.fields.includes("could not be opened"))!;
    assert.equal(line.msg, "rtc relay");
    assert.deepEqual(JSON.parse(line.fields), {
      relay: "a LiveKit frame could not be opened",
      call: "c1",
      identity: "@alice:hs:DEVICE",
      video: true,
      reason: "no key at index",
    });
    assert.equal(line.level, "debug", "the relay's info is the bridge's debug");
  });

  it("a child that dies mid-request: the request fails, its calls are told `lost`, the next request starts a new child", async function () {
    const mark = join(dir, "crashed");
    const { r, log } = start({ FAKE_RELAY_CRASH_ON: "connect", FAKE_RELAY_MARK: mark });
    const lost: RelayCallEvent[] = [];
    r.listen("k", (e) => lost.push(e));
    await r.request("open", { call: "k", media: "voice", iceServers: [], relayOnly: false });
    const first = r.pid;
    await assert.rejects(r.request("connect", { call: "k", url: "ws://x", jwt: "j" }), /relay process/);
    await eventually(() => lost.some((e) => e.event === "lost"));
    assert.ok(log.lines.some((l) => l.level === "error" && /died/.test(l.msg)));
    await r.request("open", { call: "k2", media: "voice", iceServers: [], relayOnly: false });
    assert.equal(r.starts, 2);
    assert.notEqual(r.pid, first);
    await r.request("connect", { call: "k2", url: "ws://x", jwt: "j" });
  });

  it("a request the child never answers times out; the child stays", async function () {
    const log = recordingLog();
    const r = new RelayProcess({
      binary: FAKE,
      env: { FAKE_RELAY_SILENT_ON: "stats" },
      log,
      requestTimeoutMs: 300,
    });
    running.push(r);
    await r.request("open", { call: "t", media: "voice", iceServers: [], relayOnly: false });
    await assert.rejects(r.request("stats", { call: "t" }), /did not answer stats/);
    await r.request("close", { call: "t" });
    assert.equal(r.starts, 1);
  });

  it("a hello that is not version 1 is refused and the child is stopped", async function () {
    const { r } = start({ FAKE_RELAY_HELLO: "bad" });
    await assert.rejects(r.ensure(), /version 1/);
    assert.equal(r.pid, undefined);
  });

  it("stop() ends the child (SIGTERM) and refuses later requests", async function () {
    const { r } = start();
    await r.ensure();
    const pid = r.pid;
    assert.ok(alive(pid));
    await r.stop();
    assert.ok(!alive(pid), "the child is gone");
    await assert.rejects(r.request("hello"), /stopped/);
  });

  it("one call's leg and peer (RelayCallMedia) share the sidecar's call id: offer, candidates, from, connect, stats, lost", async function () {
    const ops = join(dir, "ops");
    const mark = join(dir, "crashed");
    const { r } = start({ FAKE_RELAY_LOG: ops, FAKE_RELAY_CRASH_ON: "fingerprint", FAKE_RELAY_MARK: mark });
    const m = new RelayCallMedia(r, { media: "voice", iceServers: [{ urls: ["turn:t"], credential: "c" }] });
    const candidates: unknown[] = [];
    m.peer.events.on("candidate", (c) => candidates.push(c));
    const lost: string[] = [];
    m.onLost((why) => lost.push(why));
    assert.match(await m.peer.createOffer(), /^v=0/);
    await eventually(() => candidates.length === 2);
    assert.deepEqual(candidates, [
      { candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", mid: "0", index: 0 },
      null,
    ]);
    await m.peer.acceptAnswer("v=0\r\n");
    await m.peer.addCandidate({ candidate: "candidate:2 1 udp 1 127.0.0.1 10 typ host", mid: "0" });
    m.from("@alice:hs.test:ALICEDEV");
    await m.leg.connect("ws://lk", "jwt", { e2ee: true });
    m.leg.setKey("@alice:hs.test:ALICEDEV", new Uint8Array(16).fill(7), 0);
    await eventually(() => m.firstMedia.has("toPeople:audio") && m.firstMedia.has("toMatrix:audio"));
    await eventually(async () => (await m.stats()).keyframeRequests === 1);
    const stats = await m.stats();
    assert.deepEqual(stats.toPeople, { audio: 1, video: 0 });
    assert.deepEqual(readFileSync(ops, "utf8").trim().split("\n").slice(0, 8), [
      "hello",
      "open",
      "offer",
      "acceptAnswer",
      "candidate",
      "from",
      "connect",
      "setKey",
    ]);
    await assert.rejects(m.peer.remoteCertificateFingerprint(), /relay process/);
    await eventually(() => lost.length === 1);
    assert.match(lost[0]!, /the relay process exited with 3/);
  });

  it("a participant leaving reaches the leg's `left` handlers", async function () {
    const { r } = start();
    const m = new RelayCallMedia(r, { media: "video", iceServers: [] });
    const left: string[] = [];
    m.leg.on("left", (id) => left.push(id));
    await m.peer.createOffer();
    await r.request("leave", { call: m.call, identity: "@alice:hs.test:D" });
    await eventually(() => left.length === 1);
    assert.deepEqual(left, ["@alice:hs.test:D"]);
    m.close();
  });
});

describe("bridge.matrixrtc.media: passthrough through the sidecar, transcode as the fallback (media-mode)", function () {
  this.timeout(60_000);
  const transcoded: string[] = [];
  const loadTranscode = () =>
    Promise.resolve((o: { media: string }) => {
      transcoded.push(o.media);
      return { transcoded: true } as unknown as CallMedia;
    });

  it("passthrough with the sidecar there: calls get the sidecar's media, no transcode stack is loaded", async function () {
    const log = recordingLog();
    let loaded = false;
    const m = callMediaModes({
      mode: "passthrough",
      binary: FAKE,
      loadTranscode: () => ((loaded = true), loadTranscode()),
      log,
    });
    await m.ports.prepare?.();
    assert.equal(m.mode(), "passthrough");
    assert.ok(m.ports.newCallMedia({ media: "voice", iceServers: [] }) instanceof RelayCallMedia);
    assert.equal(loaded, false, "rtc-node and libwebrtc are not loaded");
    assert.ok(m.relay?.pid);
    await m.stop();
    assert.deepEqual(
      log.lines.filter((l) => l.level === "error"),
      [],
    );
  });

  it("passthrough with no binary: one clear warning naming npm run build:rtc-relay, calls transcode", async function () {
    const log = recordingLog();
    const m = callMediaModes({
      mode: "passthrough",
      binary: "/nonexistent/people-rtc-relay",
      loadTranscode,
      log,
    });
    assert.equal(m.mode(), "transcode");
    await m.ports.prepare?.();
    const media = m.ports.newCallMedia({ media: "video", iceServers: [] });
    assert.deepEqual(media, { transcoded: true });
    assert.deepEqual(
      log.lines.filter((l) => l.level === "error"),
      [],
    );
    const warnings = log.lines.filter((l) => l.level === "warn");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!.msg, /npm run build:rtc-relay/);
  });

  it("passthrough whose hello fails: one clear error, calls transcode from then on", async function () {
    const log = recordingLog();
    const env = { FAKE_RELAY_HELLO: "bad" };
    const m = callMediaModes({ mode: "passthrough", binary: FAKE, env, loadTranscode, log });
    await m.ports.prepare?.();
    assert.equal(m.mode(), "transcode");
    await m.ports.prepare?.();
    assert.deepEqual(m.ports.newCallMedia({ media: "voice", iceServers: [] }), { transcoded: true });
    const errors = log.lines.filter((l) => l.level === "error");
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.msg, /hello failed.*npm run build:rtc-relay/);
    await m.stop();
  });

  it("transcode configured: the sidecar is never started", async function () {
    const m = callMediaModes({ mode: "transcode", binary: FAKE, loadTranscode, log: recordingLog() });
    await m.ports.prepare?.();
    assert.equal(m.relay, undefined);
    assert.deepEqual(m.ports.newCallMedia({ media: "voice", iceServers: [] }), { transcoded: true });
  });
});
