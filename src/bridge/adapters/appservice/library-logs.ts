// matrix-appservice-bridge (and the bot SDK under it) log through their own
// winston logger, whose JSON has another shape than ours. Route every line
// through the bridge's pino logger instead: one shape (and one format, json or
// pretty) for all lines, under `component: "appservice-library"`. Its info
// level logs every request, so its levels move one step down (info → debug,
// debug → trace), and lines our logger would drop are dropped by winston before they are
// formatted; its arguments (request bodies, objects) are left out and
// tokens in the text are masked, so nothing secret reaches the log.
import { Writable } from "node:stream";
import { Logger as LibraryLogger } from "matrix-appservice-bridge";
import type { Logger } from "../../logger.js";

type PinoLevel = "trace" | "debug" | "info" | "warn" | "error";
const LEVELS: Record<string, PinoLevel> = {
  TRACE: "trace",
  DEBUG: "trace",
  INFO: "debug",
  WARN: "warn",
  ERROR: "error",
};

/** Masks access tokens in a URL or an Authorization header quoted in a message. */
export function maskTokens(text: string): string {
  return text
    .replace(/(access_token=)[^&\s"']+/gi, "$1[redacted]")
    .replace(/(Bearer\s+)[^\s"']+/gi, "$1[redacted]");
}

/** One line of the library's JSON format, as our logger's. */
export function relayLibraryLine(log: Logger, line: string): void {
  let entry: { level?: unknown; module?: unknown; message?: unknown; error?: unknown };
  try {
    entry = JSON.parse(line) as typeof entry;
  } catch {
    return;
  }
  const level = LEVELS[String(entry.level).toUpperCase()] ?? "debug";
  if (!log.isLevelEnabled(level)) return;
  const fields: Record<string, string> = {};
  if (typeof entry.module === "string") fields.module = entry.module;
  if (typeof entry.error === "string") fields.detail = maskTokens(entry.error);
  log[level](fields, maskTokens(typeof entry.message === "string" ? entry.message : ""));
}

/** Sends the library's log lines to `log` (replacing its console output). */
export function routeLibraryLogs(log: Logger): void {
  const child = log.child({ component: "appservice-library" });
  let pending = "";
  const sink = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line) relayLibraryLine(child, line);
      done();
    },
  });
  // No console transport; the stream transport takes the levels our logger keeps.
  LibraryLogger.root.configureLogging({ json: true }, sink);
  // The library builds a debug line per request and per ghost it checks; below this level winston
  // drops it before formatting it (a timestamp, util.inspect, JSON), instead of our parsing it back
  // only to drop it.
  const threshold = libraryThreshold(log);
  for (const transport of LibraryLogger.root.winston?.transports ?? []) transport.level = threshold;
}

/** The lowest winston level of the library's whose lines `log` keeps (LEVELS moves them one down). */
export function libraryThreshold(log: Pick<Logger, "isLevelEnabled">): "debug" | "verbose" | "warn" {
  if (log.isLevelEnabled("trace")) return "debug";
  // INFO becomes debug; winston's "verbose" (the bot SDK's trace) is not in LEVELS and falls back to debug.
  if (log.isLevelEnabled("debug")) return "verbose";
  return "warn";
}
