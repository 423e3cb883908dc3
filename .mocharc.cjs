"use strict";
// mocha runs the TypeScript sources through tsx; the suite is split into
// unit (no IO), integration (real HTTPS, SQLite, PostgreSQL) and e2e (real Synapse).
module.exports = {
  "node-option": ["import=tsx"],
  // Starts the test PostgreSQL lazily and stops it when the run ends.
  require: ["test/helpers/root-hooks.ts"],
  extension: ["ts"],
  spec: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts", "test/e2e/**/*.test.ts"],
  timeout: 20000,
  reporter: "spec",
  exit: true,
};
