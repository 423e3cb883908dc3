// A new device of an existing account (PeopleClient.link): join with the code
// another of its devices shows, adopt the account, pin its lists, and only
// then let the grant leave the mailbox.
import { PeopleError } from "../errors.js";
import type { PeopleAddress } from "../protocol/address.js";
import { Account, type AccountDeps } from "./account.js";
import type { Core } from "./client-core.js";
import { joinByCode } from "./link-join.js";

export async function linkDevice(
  core: Core,
  deps: AccountDeps,
  o: { address: PeopleAddress; code: string; linkPollMs?: number; linkTimeoutMs?: number },
): Promise<Account> {
  if (await core.store.loadIdentity())
    throw new PeopleError("PEOPLE_FORBIDDEN", "this store already holds an account");
  const joined = await joinByCode(
    {
      ...core,
      ...(o.linkPollMs ? { pollMs: o.linkPollMs } : {}),
      ...(o.linkTimeoutMs ? { timeoutMs: o.linkTimeoutMs } : {}),
    },
    { address: o.address, code: o.code },
  );
  const account = await Account.adopt(deps, joined.accountKey, joined.identity);
  await core.directory.pinKnown(o.address, joined.lists, joined.accountKey.publicKey);
  // Only now that the secrets are on disk does the grant leave the mailbox.
  await joined.acknowledge();
  return account;
}
