#!/usr/bin/env node
// The `matrix-appservice-people` command: runs src/bridge/main.ts through tsx.
// On Node.js 22 or newer it runs in this process; on an older `node` it starts
// the project's own Node.js 22 (node_modules/.bin/node, from the `node` npm
// package) instead, passing signals on and its exit code back.
"use strict";
const { dirname, join } = require("node:path");

const root = dirname(dirname(__dirname));

if (Number(process.versions.node.split(".")[0]) >= 22) {
  require("tsx/cjs");
  // The ESM hooks too: the sources' dynamic import()s (the MatrixRTC transcode stack, loaded on a
  // call's first use) go through Node's ESM loader, which without them finds no .ts for a .js.
  require("tsx/esm/api").register();
  require("./main.ts").main();
} else {
  const { spawn } = require("node:child_process");
  const { existsSync, realpathSync } = require("node:fs");
  let node;
  for (let dir = root; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", ".bin", "node");
    if (existsSync(candidate)) {
      node = realpathSync(candidate);
      break;
    }
    if (dirname(dir) === dir) break;
  }
  if (!node) {
    process.stderr.write(
      `matrix-appservice-people: Node.js 22 or newer is needed; run \`npm ci\` in ${root}\n`,
    );
    process.exit(1);
  }
  // The child also stops by itself should this launcher die without passing a signal on (SIGKILL).
  const child = spawn(node, [join(__dirname, "bin.cjs"), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, PEOPLE_BRIDGE_WATCH_PARENT: "1" },
  });
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const signal of signals) process.on(signal, () => child.kill(signal));
  child.on("error", (err) => {
    process.stderr.write(`matrix-appservice-people: cannot start ${node}: ${err.message}\n`);
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    if (!signal) process.exit(code ?? 1);
    for (const s of signals) process.removeAllListeners(s);
    process.kill(process.pid, signal);
  });
}
