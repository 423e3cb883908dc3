// `people call` and `people answer` as a user runs them: two bin/people
// processes against two real People servers, a tone each way, the answering
// side recording to Ogg Opus. The recording is read back and decoded, and
// the caller's tone is found in it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpusScript from "opusscript";
import { ToneDetector } from "../../src/people/client/calls/audio.js";
import { readOggPackets } from "../../src/people/client/calls/ogg-opus.js";
import { startLinkedServers, type TestServer } from "../helpers/people-servers.js";
import { ROOT, programEnv, runProgram } from "../helpers/run-program.js";

const BIN = join(ROOT, "bin", "people");
const env = { PEOPLE_PASSPHRASE: "correct horse battery staple" };

describe("people call and people answer", function () {
  this.timeout(240_000);
  let servers: TestServer[] = [];
  let dir: string;
  const network: string[] = [];

  before(async function () {
    this.timeout(120_000);
    servers = await startLinkedServers(["a.test", "b.test"]);
    dir = mkdtempSync(join(tmpdir(), "people-cli-calls-"));
    for (const s of servers) {
      const ca = join(dir, `${s.domain}.pem`);
      writeFileSync(ca, s.handle.certificate);
      network.push("--pin", `${s.domain}=127.0.0.1:${s.handle.port}`, "--ca", ca);
    }
    for (const [name, address] of [
      ["jane", "jane@a.test"],
      ["joe", "joe@b.test"],
    ] as const) {
      const r = await runProgram(BIN, ["--data", join(dir, name), ...network, "init", address], { env });
      assert.equal(r.code, 0, r.stderr);
    }
  });

  after(async () => {
    for (const s of servers) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("calls, answers, carries a tone each way, records it as Ogg Opus, and shows the states and the end", async () => {
    const record = join(dir, "from-jane.ogg");
    const answering = spawn(
      BIN,
      [
        "--data",
        join(dir, "joe"),
        "--json",
        "answer",
        "--from",
        "jane@a.test",
        "--tone",
        "880",
        "--record",
        record,
      ],
      { env: programEnv(env), stdio: ["pipe", "pipe", "pipe"] },
    );
    let answerOut = "";
    let answerErr = "";
    answering.stdout.setEncoding("utf8").on("data", (s: string) => (answerOut += s));
    answering.stderr.setEncoding("utf8").on("data", (s: string) => (answerErr += s));
    const answered = new Promise<number | null>((r) => answering.on("exit", r));
    // The caller rings until the answering side has started and takes the call; then talks 3 s.
    const calling = await runProgram(
      BIN,
      [
        "--data",
        join(dir, "jane"),
        "--json",
        "call",
        "joe@b.test",
        "--tone",
        "440",
        "--duration",
        "3s",
        "--timeout",
        "120s",
      ],
      { env, timeoutMs: 200_000 },
    );
    assert.equal(calling.code, 0, calling.stderr);
    const events = calling.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { event: string; state?: string; reason?: string; duration_s?: number });
    const states = events.filter((e) => e.event === "state").map((e) => e.state);
    assert.deepEqual(states, ["calling", "connecting", "active", "ended"]);
    const end = events.find((e) => e.event === "ended")!;
    assert.equal(end.reason, "normal");
    assert(end.duration_s! >= 3, `talked at least 3 s, not ${end.duration_s}`);
    assert.equal(await answered, 0, answerErr);
    const theirEnd = answerOut
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { event: string; reason?: string; remote?: boolean })
      .find((e) => e.event === "ended")!;
    assert.deepEqual([theirEnd.reason, theirEnd.remote], ["normal", true]);
    const { packets, eos } = readOggPackets(readFileSync(record));
    assert(eos && packets.length > 2 + 50, `a recording of seconds, not ${packets.length - 2} packets`);
    const decoder = new OpusScript(48_000, 1);
    const heard = new ToneDetector(440);
    for (const p of packets.slice(2)) {
      const pcm = decoder.decode(p);
      heard.push(new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2));
    }
    decoder.delete();
    assert(heard.found, "jane's 440 Hz is in joe's recording");
  });

  it("people watch --answer-calls shows a ring, takes the call and goes on watching", async () => {
    const watching = spawn(
      BIN,
      ["--data", join(dir, "joe"), "--json", "watch", "--answer-calls", "--tone", "660"],
      { env: programEnv(env), stdio: ["pipe", "pipe", "pipe"] },
    );
    let out = "";
    watching.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    const exited = new Promise<number | null>((r) => watching.on("exit", r));
    try {
      const calling = await runProgram(
        BIN,
        [
          "--data",
          join(dir, "jane"),
          "--json",
          "call",
          "joe@b.test",
          "--duration",
          "2s",
          "--timeout",
          "120s",
        ],
        { env, timeoutMs: 200_000 },
      );
      assert.equal(calling.code, 0, calling.stderr);
      const deadline = Date.now() + 60_000;
      const seen = () =>
        out
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { event: string; state?: string; from?: string; reason?: string });
      while (!seen().some((e) => e.event === "ended") && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const events = seen();
      assert(
        events.some((e) => e.event === "call" && e.from === "jane@a.test"),
        out,
      );
      assert(
        events.some((e) => e.event === "state" && e.state === "active"),
        out,
      );
      assert.equal(events.find((e) => e.event === "ended")?.reason, "normal");
      assert.equal(watching.exitCode, null, "still watching after the call");
    } finally {
      watching.kill("SIGTERM");
      await exited;
    }
  });
});
