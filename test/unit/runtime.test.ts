import assert from "node:assert/strict";

describe("runtime the install provides", () => {
  it("runs on the Node.js >= 22 that npm ci put in node_modules/.bin", () => {
    const major = Number(process.versions.node.split(".")[0]);
    assert.ok(major >= 22, `expected Node.js >= 22, running ${process.version}`);
    assert.match(process.execPath, /node_modules/);
  });

  it("loads matrix-appservice-bridge without the native crypto download", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const bridge = require("matrix-appservice-bridge") as {
      Bridge?: unknown;
      AppServiceRegistration?: unknown;
    };
    assert.equal(typeof bridge.Bridge, "function");
    assert.equal(typeof bridge.AppServiceRegistration, "function");
  });

  it("has the stand-in for @matrix-org/matrix-sdk-crypto-nodejs, which refuses to be used", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const crypto = require("@matrix-org/matrix-sdk-crypto-nodejs") as { OlmMachine: new () => unknown };
    assert.throws(() => new crypto.OlmMachine(), /matrix-sdk-crypto-wasm/);
  });
});
