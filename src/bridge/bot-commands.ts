// The bot's built-in commands: help and status.
import type { Command, CommandRegistry } from "./commands.js";
import { notice } from "./notice.js";

export function helpCommand(registry: CommandRegistry, additionalHelp: string): Command {
  return {
    name: "help",
    help: "show this list",
    level: "user",
    run(ctx) {
      const lines = registry
        .available(ctx.access)
        .map((c) => `• \`${c.name}${c.args ? ` ${c.args}` : ""}\`: ${c.help}`);
      return notice("People bridge commands:", ...lines, ...(additionalHelp ? ["", additionalHelp] : []));
    },
  };
}

/** What `status` reports, provided by the bridge. */
export interface StatusSource {
  homeserverUrl: string;
  homeserverDomain: string;
  /** A fresh check, not a cached state. */
  homeserverReachable(): Promise<boolean>;
  peopleUrl: string;
  peopleDomain: string;
  peopleAccounts(): Promise<number>;
  version: string;
}

export function statusCommand(status: StatusSource): Command {
  return {
    name: "status",
    help: "the bridge's state: homeserver, People server, version",
    level: "user",
    async run() {
      const [reachable, accounts] = await Promise.all([
        status.homeserverReachable(),
        status.peopleAccounts(),
      ]);
      return notice(
        `Homeserver ${status.homeserverDomain} (${status.homeserverUrl}): ${reachable ? "reachable" : "NOT reachable"}`,
        `People server: ${status.peopleUrl}, domain \`${status.peopleDomain}\``,
        `People accounts: ${accounts}`,
        `Version: ${status.version}`,
      );
    },
  };
}
