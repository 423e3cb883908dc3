// Which People client reads a ghost's profile (accounts/profile-reader.ts),
// over fake clients that count the contact lookups each one was asked (each
// lookup may open that account's closed SQLite store): a Matrix user in
// conversation with the address is asked first, and when one knows it nobody
// else is asked; otherwise every open client is, and only then is the first
// open client used, so no unrelated account pins the address while one knows it.
import assert from "node:assert/strict";
import type { PeopleClient } from "../../src/people/client/people-client.js";
import { isPeopleError } from "../../src/people/errors.js";
import { parseAddress, type PeopleAddress } from "../../src/people/protocol/address.js";
import {
  accountsProfileReader,
  conversationUsersIn,
} from "../../src/bridge/adapters/accounts/profile-reader.js";
import { MemoryGroups, MemoryPortals } from "../helpers/portal-fakes.js";

const JOE = parseAddress("joe@o.test");

/** Users @u0 … @u{n-1}; `knows` lists the users whose client has Joe in its contacts; `closed` have no client. */
function world(n: number, knows: string[], closed: string[] = []) {
  const asked: string[] = [];
  const readBy: string[] = [];
  const users = Array.from({ length: n }, (_, i) => `@u${i}:hs`);
  const client = (user: string) =>
    ({
      contacts: {
        get: async (address: PeopleAddress) => {
          asked.push(user);
          return knows.includes(user) && address === JOE ? { address } : undefined;
        },
      },
      profile: {
        get: async () => {
          readBy.push(user);
          return { displayName: `Joe as ${user} reads him` };
        },
      },
    }) as unknown as PeopleClient;
  const clients = new Map(users.filter((u) => !closed.includes(u)).map((u) => [u, client(u)]));
  return {
    asked,
    readBy,
    reader: (inConversation: string[]) =>
      accountsProfileReader(
        { clientOf: (user: string) => clients.get(user) },
        { list: async () => users.map((matrixUser) => ({ matrixUser, address: "x@p.test", createdAt: 0 })) },
        async (address) => (address === JOE ? inConversation : []),
      ),
  };
}

describe("a ghost's profile, read through the right People client", function () {
  it("asks the users in conversation with the address first, and nobody else once one knows it", async function () {
    const w = world(500, ["@u400:hs", "@u7:hs"]);
    const profile = await w.reader(["@u400:hs"]).read(JOE);
    assert.equal(profile?.displayName, "Joe as @u400:hs reads him");
    assert.deepEqual(w.asked, ["@u400:hs"]);
  });

  it("skips a conversation's user whose account is not open, and asks each client at most once", async function () {
    const w = world(5, ["@u3:hs"], ["@u1:hs"]);
    await w.reader(["@u1:hs", "@u2:hs"]).read(JOE);
    // u2 (in conversation, does not know Joe), then every other open client in order: u0, u3.
    assert.deepEqual(w.asked, ["@u2:hs", "@u0:hs", "@u3:hs"]);
    assert.deepEqual(w.readBy, ["@u3:hs"]);
  });

  it("uses the first open client only when no client knows the address", async function () {
    const w = world(3, [], ["@u0:hs"]);
    await w.reader([]).read(JOE);
    assert.deepEqual(w.asked, ["@u1:hs", "@u2:hs"]);
    assert.deepEqual(w.readBy, ["@u1:hs"]);
  });

  it("says so when no account of the bridge is open", async function () {
    const w = world(2, [], ["@u0:hs", "@u1:hs"]);
    await assert.rejects(w.reader([]).read(JOE), (err: unknown) => isPeopleError(err, "PEOPLE_UNAVAILABLE"));
  });

  it("finds the users in conversation in the store: DM portals first, then group rooms", async function () {
    const portals = new MemoryPortals();
    const groups = new MemoryGroups();
    await portals.put({ roomId: "!d1", matrixUser: "@b:hs", peopleAddress: JOE, createdAt: 1 });
    await portals.put({ roomId: "!d2", matrixUser: "@x:hs", peopleAddress: "ann@o.test", createdAt: 2 });
    await groups.put({
      roomId: "!g",
      members: [{ address: JOE }, { address: "a@p.test", matrixUser: "@a:hs" }],
      createdAt: 3,
    });
    assert.deepEqual(await conversationUsersIn({ portals, groups })(JOE), ["@b:hs", "@a:hs"]);
  });
});
