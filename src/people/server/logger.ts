// Structured logs (pino). Secrets never reach a log line: request bodies are
// never logged, and the fields that could carry a token or key are redacted
// by name as a second line of defence.
import pino, { type Logger } from "pino";

export type { Logger };

export const REDACTED_FIELDS = [
  "token",
  "*.token",
  "authorization",
  "*.authorization",
  "headers.authorization",
  "req.headers.authorization",
  "secret",
  "*.secret",
  "key",
  "*.key",
  "signature",
  "*.signature",
  "body",
  "*.body",
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "people-server" },
      redact: { paths: REDACTED_FIELDS, censor: "[redacted]" },
      serializers: { err: pino.stdSerializers.err },
    },
    destination,
  );
}
