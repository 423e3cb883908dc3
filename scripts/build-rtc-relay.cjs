#!/usr/bin/env node
// `npm run build:rtc-relay [-- <out dir>]`: builds the MatrixRTC media sidecar (rtc-relay/, Go)
// into rtc-relay/bin/people-rtc-relay (bridge.matrixrtc.relay_binary's default) or <out dir>.
// Go from PATH or /usr/local/go/bin/go; GOFLAGS=-mod=mod lets the Go module proxy fill the module
// cache (go.sum pins what it may bring). The test harness calls it too (test/helpers/rtc-relay.ts).
// `--test` runs the relay's Go tests instead (`npm test` does, after mocha has built livekit-server
// into .cache/livekit for their end-to-end test).
"use strict";
const { spawnSync } = require("node:child_process");
const { existsSync, mkdirSync } = require("node:fs");
const { join, resolve } = require("node:path");

const ROOT = resolve(__dirname, "..");
const SRC = join(ROOT, "rtc-relay");

function goBinary() {
  if (process.env.PEOPLE_GO) return process.env.PEOPLE_GO;
  for (const dir of (process.env.PATH || "").split(":")) {
    if (dir && existsSync(join(dir, "go"))) return join(dir, "go");
  }
  if (existsSync("/usr/local/go/bin/go")) return "/usr/local/go/bin/go";
  return undefined;
}

function goEnv() {
  return { ...process.env, GOFLAGS: [process.env.GOFLAGS, "-mod=mod"].filter(Boolean).join(" ") };
}

function test(go) {
  const started = Date.now();
  const r = spawnSync(go, ["test", "-count=1", "./..."], { cwd: SRC, stdio: "inherit", env: goEnv() });
  if (r.status !== 0) {
    console.error(`test-rtc-relay: go test failed (${r.error ? r.error.message : `exit ${r.status}`})`);
    return 1;
  }
  console.error(`test-rtc-relay: go test passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

function main() {
  const testing = process.argv[2] === "--test";
  const out = resolve(process.argv[2] || join(SRC, "bin"));
  if (!existsSync(join(SRC, "go.mod"))) {
    console.error(`build-rtc-relay: no Go module at ${SRC}`);
    return 1;
  }
  const go = goBinary();
  if (!go) {
    console.error("build-rtc-relay: Go is not installed (PATH or /usr/local/go/bin/go); .ci/run installs it");
    return 1;
  }
  if (testing) return test(go);
  mkdirSync(out, { recursive: true });
  const target = join(out, "people-rtc-relay");
  const started = Date.now();
  const r = spawnSync(go, ["build", "-trimpath", "-o", target, "."], {
    cwd: SRC,
    stdio: "inherit",
    env: goEnv(),
  });
  if (r.status !== 0) {
    console.error(`build-rtc-relay: go build failed (${r.error ? r.error.message : `exit ${r.status}`})`);
    return 1;
  }
  console.error(`build-rtc-relay: ${target} built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}

process.exit(main());
