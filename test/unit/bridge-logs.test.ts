// The bridge's log formats and the route of matrix-appservice-bridge's own
// lines through our logger: one shape, levels moved down a step, no secrets.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { Logger as LibraryLogger } from "matrix-appservice-bridge";
import {
  libraryThreshold,
  maskTokens,
  relayLibraryLine,
  routeLibraryLogs,
} from "../../src/bridge/adapters/appservice/library-logs.js";
import { createBridgeLogger, resolveLogFormat } from "../../src/bridge/logger.js";

function capture(): { stream: Writable; text: () => string } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  });
  return { stream, text: () => text };
}

describe("bridge logs", function () {
  it("auto is pretty on a terminal and JSON otherwise", function () {
    assert.equal(resolveLogFormat("auto", true), "pretty");
    assert.equal(resolveLogFormat("auto", false), "json");
    assert.equal(resolveLogFormat("json", true), "json");
    assert.equal(resolveLogFormat("pretty", false), "pretty");
  });

  it("json: one object a line; pretty: a readable line; both redact tokens", function () {
    for (const format of ["json", "pretty"] as const) {
      const out = capture();
      const log = createBridgeLogger("info", out.stream, format);
      log.info({ room: "!r:hs", as_token: "s3cr3t-as", token: "s3cr3t-t" }, "bridge started");
      const text = out.text();
      assert.ok(!text.includes("s3cr3t"), `${format}: ${text}`);
      if (format === "json") {
        const line = JSON.parse(text.trim()) as Record<string, unknown>;
        assert.equal(line.msg, "bridge started");
        assert.equal(line.level, 30);
        assert.equal(line.room, "!r:hs");
      } else {
        assert.throws(() => JSON.parse(text.trim()) as unknown, "not JSON");
        assert.match(text, /INFO/);
        assert.match(text, /bridge started/);
        assert.match(text, /room: "!r:hs"/);
      }
    }
  });

  it("relays a matrix-appservice-bridge line in our shape, a level down, without its arguments or tokens", function () {
    const out = capture();
    const log = createBridgeLogger("trace", out.stream, "json");
    relayLibraryLine(
      log,
      JSON.stringify({
        level: "INFO",
        module: "bridge.AppServiceBot",
        timestamp: "12:00:00:000",
        message: "GET /_matrix/client/v3/sync?access_token=syt_secret",
        error: "Bearer syt_other failed",
        args: [{ access_token: "syt_in_args", body: "plaintext" }],
      }),
    );
    relayLibraryLine(log, JSON.stringify({ level: "WARN", module: "m", message: "careful" }));
    relayLibraryLine(log, "not json");
    const lines = out
      .text()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2);
    assert.equal(lines[0]!.level, 20, "info becomes debug");
    assert.equal(lines[0]!.service, "matrix-appservice-people");
    assert.equal(lines[0]!.module, "bridge.AppServiceBot");
    assert.equal(lines[0]!.msg, "GET /_matrix/client/v3/sync?access_token=[redacted]");
    assert.equal(lines[0]!.detail, "Bearer [redacted] failed");
    assert.ok(!out.text().includes("syt_"), out.text());
    assert.ok(!out.text().includes("plaintext"), out.text());
    assert.equal(lines[1]!.level, 40);
  });

  it("drops library lines below our level", function () {
    const out = capture();
    const log = createBridgeLogger("info", out.stream, "json");
    relayLibraryLine(log, JSON.stringify({ level: "INFO", module: "m", message: "every request" }));
    assert.equal(out.text(), "");
  });

  it("has the library's winston drop, before formatting, the lines our level drops", async function () {
    assert.equal(libraryThreshold(createBridgeLogger("trace", capture().stream, "json")), "debug");
    assert.equal(libraryThreshold(createBridgeLogger("debug", capture().stream, "json")), "verbose");
    assert.equal(libraryThreshold(createBridgeLogger("info", capture().stream, "json")), "warn");
    for (const [level, kept] of [
      ["info", ["careful"]],
      ["debug", ["every request", "careful"]],
      ["trace", ["each ghost", "every request", "careful"]],
    ] as const) {
      const out = capture();
      const log = createBridgeLogger(level, out.stream, "json");
      routeLibraryLogs(log);
      const levels = LibraryLogger.root.winston?.transports.map((t) => t.level);
      assert.deepEqual(levels, [libraryThreshold(log)], "winston filters before formatting");
      const lib = new LibraryLogger("m");
      lib.debug("each ghost");
      lib.info("every request");
      lib.warn("careful");
      const seen = () =>
        out
          .text()
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { msg: string; module?: string })
          .filter((l) => l.module === "m")
          .map((l) => l.msg);
      // winston writes to the stream asynchronously: wait for the warning, always kept.
      for (let i = 0; i < 100 && !seen().includes("careful"); i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(seen(), [...kept], level);
    }
  });

  it("masks tokens in URLs and Authorization headers", function () {
    assert.equal(maskTokens("a?access_token=x&b=1"), "a?access_token=[redacted]&b=1");
    assert.equal(maskTokens("Authorization: Bearer abc.def"), "Authorization: Bearer [redacted]");
  });
});
