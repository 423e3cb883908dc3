// The bridge's structured logs (pino, JSON lines), with the People server's
// redaction of fields that could carry a token or key.
import pino, { type Logger } from "pino";
import { REDACTED_FIELDS } from "../people/server/logger.js";

export type { Logger };

export function createBridgeLogger(level: string, destination?: pino.DestinationStream): Logger {
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
    destination,
  );
}
