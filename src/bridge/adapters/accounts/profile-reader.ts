// People profiles for the ghosts, read through the People clients the bridge
// holds for its Matrix users: the signature is checked against the address's
// account key as that client pinned it. A client that already knows the
// address is preferred, so the lookup pins nothing new in anyone else's
// contacts: first the clients of the users in conversation with it (a DM
// portal or a group room with it, found by the address in the bridge's
// store), then every open client; only when none knows it is the first open
// client used. Asking the conversation's users first matters at scale: each
// client asked opens its store's SQLite connection if the pool had closed it,
// and asking every client for every ghost opened ~120 connections a user at
// 200 users.
import { PeopleError, isPeopleError } from "../../../people/errors.js";
import type { PeopleClient } from "../../../people/client/people-client.js";
import type { PeopleAddress } from "../../../people/protocol/address.js";
import type { PeopleProfile, ProfileReader } from "../../profiles/ghost-profiles.js";
import type { PeopleAccountStore, PortalStore } from "../../core/ports/store.js";
import type { GroupPortalStore } from "../../core/ports/feature-store.js";
import type { PeopleAccounts } from "./people-accounts.js";

/** The Matrix users in conversation with a People address (the bridge store's portals and groups). */
export type ConversationUsers = (address: PeopleAddress) => Promise<readonly string[]>;

/** ConversationUsers from the bridge store: DM portals with the address, then group rooms with it. */
export function conversationUsersIn(store: {
  portals: Pick<PortalStore, "usersWith">;
  groups: Pick<GroupPortalStore, "matrixUsersWith">;
}): ConversationUsers {
  return async (address) => [
    ...(await store.portals.usersWith(address)),
    ...(await store.groups.matrixUsersWith(address)),
  ];
}

export function accountsProfileReader(
  accounts: Pick<PeopleAccounts, "clientOf">,
  store: Pick<PeopleAccountStore, "list">,
  inConversation: ConversationUsers,
): ProfileReader {
  const knower = async (users: Iterable<string>, address: PeopleAddress, asked: Set<string>) => {
    for (const user of users) {
      if (asked.has(user)) continue;
      asked.add(user);
      const client = accounts.clientOf(user);
      if (client && (await client.contacts.get(address))) return client;
    }
    return undefined;
  };
  const clientFor = async (address: PeopleAddress): Promise<PeopleClient> => {
    const asked = new Set<string>();
    const near = await knower(await inConversation(address), address, asked);
    if (near) return near;
    const records = await store.list();
    const known = await knower(
      records.map((r) => r.matrixUser),
      address,
      asked,
    );
    if (known) return known;
    for (const record of records) {
      const client = accounts.clientOf(record.matrixUser);
      if (client) return client;
    }
    throw new PeopleError("PEOPLE_UNAVAILABLE", "no People account of the bridge is open yet");
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
