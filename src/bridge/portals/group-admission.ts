// Who gets into a group room the People side asks for. Anyone can write any
// address into a message's `to`, and each one would be a ghost registered on
// the homeserver; so before a room is made (or grown by a People reply) every
// address that would become a ghost (not the sender's: its message is signed
// by its verified device; not a bridged Matrix user's) is looked up with the
// receiving account, a few at a time. Only an address with a People account is
// let in: one without (PEOPLE_UNKNOWN_RECIPIENT), and one whose server cannot be
// reached now (a domain that does not exist, or has no People server, answers
// the same as a server that is down), are left out, and the room is told.
// A later People message of the conversation brings them in once they resolve.
import type { PeopleAddress } from "../../people/protocol/address.js";
import type { LeftOutReason } from "../model/creation-limits.js";
import type { PeopleAccount } from "../people-side.js";

/** Lookups in flight at once for one message. */
export const LOOKUP_CONCURRENCY = 8;

/** The addresses that may not become ghosts now, and why. */
export async function unresolvable(
  account: PeopleAccount,
  addresses: readonly PeopleAddress[],
): Promise<Map<PeopleAddress, LeftOutReason>> {
  const out = new Map<PeopleAddress, LeftOutReason>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < addresses.length) {
      const address = addresses[next++]!;
      const found = await account.lookup(address);
      if (found.status !== "exists") out.set(address, found.status);
    }
  };
  await Promise.all(Array.from({ length: Math.min(LOOKUP_CONCURRENCY, addresses.length) }, worker));
  // In the set's order, whatever order the answers came in.
  return new Map(addresses.filter((a) => out.has(a)).map((a) => [a, out.get(a)!]));
}
