// Commands written in a portal room rather than to the bot: "!people <name>
// [args]" (as mautrix's "!signal set-relay"). Pure. Anything else is an
// ordinary message of the room.
import { tokenize } from "./tokenize.js";

export const PORTAL_COMMAND_PREFIX = "!people";

export interface PortalCommand {
  /** Lowercased; "" for the prefix alone. */
  name: string;
  args: string[];
}

/** The command in a message body, or undefined when the body is not one. */
export function parsePortalCommand(body: string): PortalCommand | undefined {
  const text = body.trim();
  const prefix = text.slice(0, PORTAL_COMMAND_PREFIX.length).toLowerCase();
  if (prefix !== PORTAL_COMMAND_PREFIX) return undefined;
  const rest = text.slice(PORTAL_COMMAND_PREFIX.length);
  if (rest !== "" && !/^\s/.test(rest)) return undefined;
  const words = tokenize(rest);
  return { name: (words.shift() ?? "").toLowerCase(), args: words };
}
