// What the bot's `status` reports, read from the running bridge's parts at
// the time of asking (like mautrix's `ping`/`status`).
import type { PeopleAccounts } from "./accounts/people-accounts.js";
import type { EventRetryQueue } from "./appservice/event-retry-queue.js";
import type { StatusSource } from "./bot-commands.js";
import type { BridgeStore } from "./store/types.js";

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
      return { address: record.address, connected: parts.accounts.clientOf(userId)?.connected ?? false };
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
