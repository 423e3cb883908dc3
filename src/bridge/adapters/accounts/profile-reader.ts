// People profiles for the ghosts, read through the People clients the bridge
// holds for its Matrix users: the signature is checked against the address's
// account key as that client pinned it. A client that already knows the
// address (a user in conversation with it) is preferred, so the lookup pins
// nothing new in anyone else's contacts; only when none does is the first open
// client used.
import { PeopleError, isPeopleError } from "../../../people/errors.js";
import type { PeopleClient } from "../../../people/client/people-client.js";
import type { PeopleAddress } from "../../../people/protocol/address.js";
import type { PeopleProfile, ProfileReader } from "../../profiles/ghost-profiles.js";
import type { PeopleAccountStore } from "../../core/ports/store.js";
import type { PeopleAccounts } from "./people-accounts.js";

export function accountsProfileReader(accounts: PeopleAccounts, store: PeopleAccountStore): ProfileReader {
  const clientFor = async (address: PeopleAddress): Promise<PeopleClient> => {
    let first: PeopleClient | undefined;
    for (const record of await store.list()) {
      const client = accounts.clientOf(record.matrixUser);
      if (!client) continue;
      first ??= client;
      if (await client.contacts.get(address)) return client;
    }
    if (!first) throw new PeopleError("PEOPLE_UNAVAILABLE", "no People account of the bridge is open yet");
    return first;
  };
  return {
    async read(address) {
      const client = await clientFor(address);
      try {
        const p = await client.profile.get(address);
        return {
          ...(p.displayName !== undefined ? { displayName: p.displayName } : {}),
          ...(p.avatar ? { avatar: { ...p.avatar, hash: p.avatar.id } } : {}),
        };
      } catch (err) {
        if (isPeopleError(err, "PEOPLE_NOT_FOUND")) return null;
        throw err;
      }
    },
    async avatar(address, profile: PeopleProfile) {
      const a = profile.avatar;
      if (!a) throw new PeopleError("PEOPLE_NOT_FOUND", "this profile has no avatar");
      const client = await clientFor(address);
      // The hash was signed with the profile read(): the bytes are checked against it.
      return client.profile.avatar({
        address,
        avatar: { server: a.server, id: a.hash, mime: a.mime, size: a.size },
        updatedAt: 0,
      });
    },
  };
}
