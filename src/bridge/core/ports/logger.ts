// The log as the core sees it: structured lines at four levels and children with
// bound fields. The composition root passes the pino logger (logger.ts), which
// redacts tokens and keys; the core never learns which library writes the lines.

/** One level: an object of fields with an optional message, or a message alone. */
export interface LogFn {
  (fields: object, message?: string): void;
  (message: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}
