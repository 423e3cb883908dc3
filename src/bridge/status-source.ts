// What the bot's `status` reports, read from the running bridge's parts at
// the time of asking (like mautrix's `ping`/`status`).
import type { PeopleAccounts } from "./adapters/accounts/people-accounts.js";
import type { EventRetryQueue } from "./adapters/appservice/event-retry-queue.js";
import type { StatusSource } from "./core/bot-commands.js";
import type { BridgeStore } from "./core/ports/store.js";
import type { BridgeConfig } from "./config.js";
import { homeserverReachable } from "./homeserver.js";
import { PACKAGE } from "./version.js";

/** The bridge-wide part of `status`: where the homeserver and the People server are, and the version. */
export function bridgeStatusBase(o: {
  config: Pick<BridgeConfig, "homeserver" | "people">;
  homeserverUrl: string;
  people: { url: string; store: { accounts: { count(): Promise<number> } } };
}): Omit<StatusSource, "user" | "portals" | "queues"> {
  return {
    homeserverUrl: o.homeserverUrl,
    homeserverDomain: o.config.homeserver.domain,
    homeserverReachable: () => homeserverReachable(o.homeserverUrl),
    peopleUrl: o.people.url,
    peopleDomain: o.config.people.domain,
    peopleAccounts: () => o.people.store.accounts.count(),
    version: `${PACKAGE.name} ${PACKAGE.version}`,
  };
}

export function bridgeStatusSource(
  base: Omit<StatusSource, "user" | "portals" | "queues">,
  parts: {
    accounts: PeopleAccounts;
    store: Pick<BridgeStore, "peopleAccounts" | "portals" | "groups">;
    retries: Pick<EventRetryQueue, "depth">;
  },
): StatusSource {
  return {
    ...base,
    async user(userId) {
      const record = await parts.store.peopleAccounts.get(userId);
      if (!record) return undefined;
      return { address: record.address, connected: parts.accounts.reachable(userId) ?? false };
    },
    async portals() {
      const [dms, groups] = await Promise.all([parts.store.portals.count(), parts.store.groups.count()]);
      return { dms, groups };
    },
    async queues() {
      return { outbox: await parts.accounts.outboxSize(), retries: parts.retries.depth };
    },
  };
}
