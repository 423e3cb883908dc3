// The bridge's structured logs (pino), with the People server's redaction of
// fields that could carry a token or key. Two formats of the same lines:
// `json` (one JSON object a line, for journald, Loki and friends) and `pretty`
// (a readable line for a terminal, pino-pretty); `auto` is pretty when stdout
// is a terminal and JSON otherwise (logging.format).
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";
import { REDACTED_FIELDS } from "../people/server/logger.js";

export type { Logger };

export const LOG_FORMATS = ["auto", "json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** What `auto` means for this process: pretty on a terminal. */
export function resolveLogFormat(
  format: LogFormat,
  isTty = process.stdout.isTTY === true,
): "json" | "pretty" {
  return format === "auto" ? (isTty ? "pretty" : "json") : format;
}

/** A pino-pretty stream to stdout (or `destination`), written synchronously like pino's own. */
function prettyStream(destination?: pino.DestinationStream) {
  return pretty({
    sync: true,
    colorize: !destination && process.stdout.isTTY === true,
    translateTime: "SYS:yyyy-mm-dd HH:MM:ss.l",
    ignore: "pid,hostname,service",
    ...(destination ? { destination } : {}),
  });
}

export function createBridgeLogger(
  level: string,
  destination?: pino.DestinationStream,
  format: LogFormat = "json",
): Logger {
  const stream = resolveLogFormat(format) === "pretty" ? prettyStream(destination) : destination;
  return pino(
    {
      level,
      base: { service: "matrix-appservice-people" },
      redact: {
        paths: [...REDACTED_FIELDS, "as_token", "hs_token", "*.as_token", "*.hs_token"],
        censor: "[redacted]",
      },
      serializers: { err: pino.stdSerializers.err },
    },
    stream,
  );
}
