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
  /** The asking user's People address and whether their People client is connected now (none: no account yet). */
  user?(userId: string): Promise<{ address: string; connected: boolean } | undefined>;
  /** Portal rooms: direct chats and groups. */
  portals?(): Promise<{ dms: number; groups: number }>;
  /** Work waiting: envelopes in the People outboxes, Matrix events kept to be tried again. */
  queues?(): Promise<{ outbox: number; retries: number }>;
}

export function statusCommand(status: StatusSource): Command {
  return {
    name: "status",
    help: "the bridge's state: version, homeserver, People server, your address, portals, queues",
    level: "user",
    async run(ctx) {
      const [reachable, accounts, user, portals, queues] = await Promise.all([
        status.homeserverReachable(),
        status.peopleAccounts(),
        status.user?.(ctx.sender),
        status.portals?.(),
        status.queues?.(),
      ]);
      const you = user
        ? `Your People address: \`${user.address}\` (${user.connected ? "connected" : "NOT connected"} to its server)`
        : "Your People address: none yet (you get one with your first chat)";
      return notice(
        `Version: ${status.version}`,
        `Homeserver ${status.homeserverDomain} (${status.homeserverUrl}): ${reachable ? "reachable" : "NOT reachable"}`,
        `People server: ${status.peopleUrl}, domain \`${status.peopleDomain}\``,
        `People accounts: ${accounts}`,
        ...(status.user ? [you] : []),
        ...(portals ? [`Portals: ${portals.dms} direct chats, ${portals.groups} groups`] : []),
        ...(queues
          ? [
              `Queues: ${queues.outbox} People envelopes waiting in outboxes, ${queues.retries} Matrix events to retry`,
            ]
          : []),
      );
    },
  };
}
