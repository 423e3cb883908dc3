// Shared by the launchers in bin/: runs a TypeScript entry point with the project's own
// Node.js 22 (node_modules/.bin/node, from the `node` npm package) through tsx,
// whatever `node` the shell found first. Signals are passed on to the child and
// its exit code (or signal) becomes this process's.
"use strict";
const { spawn } = require("node:child_process");
const { existsSync, realpathSync } = require("node:fs");
const { dirname, join } = require("node:path");
const { pathToFileURL } = require("node:url");

const root = dirname(__dirname);

/** Run `entry` (relative to the repository) with the project's Node.js and tsx; `name` prefixes errors. */
function launch(name, entry) {
  /** The project's Node.js, or the one running this file if it is new enough. */
  function findNode() {
    for (let dir = root; ; dir = dirname(dir)) {
      const candidate = join(dir, "node_modules", ".bin", "node");
      if (existsSync(candidate)) return realpathSync(candidate);
      if (dirname(dir) === dir) break;
    }
    if (Number(process.versions.node.split(".")[0]) >= 22) return process.execPath;
    process.stderr.write(name + ": Node.js 22 or newer is needed; run `npm ci` in " + root + "\n");
    process.exit(1);
  }

  let tsx;
  try {
    tsx = pathToFileURL(require.resolve("tsx", { paths: [root] })).href;
  } catch {
    process.stderr.write(name + ": tsx is not installed; run `npm ci` in " + root + "\n");
    process.exit(1);
  }

  const child = spawn(findNode(), ["--import", tsx, join(root, entry), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, TSX_TSCONFIG_PATH: process.env.TSX_TSCONFIG_PATH || join(root, "tsconfig.json") },
  });

  const signals = ["SIGINT", "SIGTERM", "SIGHUP"];
  for (const signal of signals) process.on(signal, () => child.kill(signal));

  child.on("error", (err) => {
    process.stderr.write(name + ": cannot start Node.js: " + err.message + "\n");
    process.exit(1);
  });
  child.on("exit", (code, signal) => {
    if (signal) {
      for (const s of signals) process.removeAllListeners(s);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
}

module.exports = { launch };
