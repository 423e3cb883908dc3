// Management-room commands: parsing and a small registry. A command is a name,
// an argument synopsis, a help line, the permission level it needs and a
// handler; later commands (dm, contacts, devices, verify, fingerprint…) plug in
// with register() and show up in `help` by themselves.
import type { PermissionLevel } from "../config.js";
import type { Notice } from "./notice.js";
import { tokenize } from "../model/tokenize.js";

export { tokenize };

export interface CommandContext {
  /** The Matrix user who sent the command. */
  sender: string;
  roomId: string;
  /** The event that carried the command. */
  eventId: string;
  /** The sender's level in bridge.permissions. */
  access: PermissionLevel;
  /** The words after the command name (double quotes group words). */
  args: string[];
}

export interface Command {
  /** Lowercase word that invokes it. */
  name: string;
  /** Synopsis of the arguments shown in help, e.g. "<address>". */
  args?: string;
  /** One line for `help`. */
  help: string;
  /** Who may run it. */
  level: PermissionLevel;
  run(ctx: CommandContext): Promise<Notice> | Notice;
}

/**
 * A command's failure is a `user_error` BridgeError (userError in errors.ts): its `userText` is
 * shown in the room; the detail and cause go to the log only (so they may name internals, never
 * secrets).
 */

const NAME = /^[a-z][a-z0-9-]*$/;

export class CommandRegistry {
  private readonly commands = new Map<string, Command>();

  /** Adds commands; a name registered twice is a programming error, reported at load time. */
  register(...commands: Command[]): this {
    for (const command of commands) {
      if (!NAME.test(command.name)) throw new Error(`command name "${command.name}" is not a lowercase word`);
      if (this.commands.has(command.name)) throw new Error(`command "${command.name}" is registered twice`);
      this.commands.set(command.name, command);
    }
    return this;
  }

  get(name: string): Command | undefined {
    return this.commands.get(name);
  }

  /** The commands a user at `level` may run, in registration order. */
  available(level: PermissionLevel): Command[] {
    return [...this.commands.values()].filter((c) => level === "admin" || c.level === "user");
  }
}

export interface ParsedCommand {
  name: string;
  args: string[];
}

/**
 * The command in a message body: its first word, lowercased, and the rest as
 * arguments. An optional leading "!" is accepted ("!help"). Undefined for an
 * empty message.
 */
export function parseCommand(body: string): ParsedCommand | undefined {
  const words = tokenize(body.trim());
  const first = words.shift();
  if (first === undefined) return undefined;
  const name = first.replace(/^!/, "").toLowerCase();
  if (name === "") return undefined;
  return { name, args: words };
}
