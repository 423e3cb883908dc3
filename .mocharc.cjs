"use strict";
// mocha runs the TypeScript sources through tsx; the suite is split into
// unit (no IO), integration (real HTTPS, SQLite, PostgreSQL) and e2e (real Synapse).
// Test files named on the command line (`npx mocha test/e2e/x.test.ts`, `npm run test:unit`) replace
// the whole-suite list; mocha itself would add them to it and run everything.
const named = process.argv.slice(2).some((arg) => /\.test\.ts$/.test(arg));
const ALL = ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts", "test/e2e/**/*.test.ts"];

module.exports = {
  "node-option": ["import=tsx"],
  // Starts the test PostgreSQL lazily and stops it when the run ends.
  require: ["test/helpers/root-hooks.ts"],
  extension: ["ts"],
  ...(named ? {} : { spec: ALL }),
  timeout: 20000,
  reporter: "spec",
  exit: true,
};
