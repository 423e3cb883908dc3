// A feed room across a homeserver outage, against the real thing: Alice
// follows Joe (People client on a second server); Synapse is stopped, Joe
// posts to a group Alice's address is in and publicly while it is down, and
// Synapse is started again. The posts' notices fail to reach the room and are
// not acknowledged, the room's cursor does not move, and once Synapse is back
// every post appears in the feed room once, in the order Joe posted them.
import assert from "node:assert/strict";
import { eventually, type MatrixUser } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf } from "../helpers/bridge-world.js";
import { roomPath, roomRest } from "../helpers/room-rest.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const DURING = 6;

type Json = Record<string, unknown>;

describe("a feed room catches up the posts made while the homeserver was down", function () {
  this.timeout(180_000);
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;

  const w = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const user = (): MatrixUser => alice ?? assert.fail("alice not started");
  const rest = roomRest(
    () => w().hs,
    () => user().accessToken,
  );
  const { api } = rest;
  const room = roomPath;

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user" },
      configure: (input) => ({
        ...input,
        bridge: { ...input.bridge, feeds: { backfill_limit: 10, poll_interval: "1s" } },
      }),
    });
    await w().startPeopleUser(JOE);
    alice = await w().startMatrixUser("alice");
    await w().bridge.handle.accounts.accountFor(user().userId);
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  it("shows each post made during the outage once, in order, when Synapse is back", async function () {
    const joe = w().person(JOE).client;
    const group = (await joe.groups.createGroup("Friends", [ALICE_PEOPLE])).id;
    const own = w().bridge.handle.accounts.clientOf(user().userId) ?? assert.fail("no People client");
    await eventually("Alice's account to hold the key", async () =>
      (await own.groups.list()).some((g) => g.id === group) ? true : undefined,
    );
    await joe.posts.post(group, { text: "before" });

    const management = await rest.managementRoom();
    await api("PUT", `${room(management)}/send/m.room.message/follow`, {
      msgtype: "m.text",
      body: `follow ${JOE}`,
    });
    const feed = await eventually(
      "the feed room",
      async () => (await w().bridge.handle.store.feeds.roomOf(user().userId, JOE))?.roomId,
      60_000,
    );
    await user().client.joinRoom(feed);
    const posts = async (): Promise<string[]> => {
      const page = await api("GET", `${room(feed)}/messages?dir=b&limit=200`);
      return ((page.chunk as Json[] | undefined) ?? [])
        .reverse()
        .filter((e) => e.sender === ghostOf(JOE) && e.type === "m.room.message")
        .map((e) => String((e.content as Json).body));
    };
    await eventually(
      "the first post",
      async () => ((await posts()).includes("before") ? true : undefined),
      60_000,
    );

    const expected: string[] = [];
    await w().hs.restart({
      whileDown: async () => {
        for (let i = 0; i < DURING; i++) {
          const text = `during ${i}`;
          if (i % 3 === 2) await joe.posts.postPublic({ text });
          else await joe.posts.post(group, { text });
          expected.push(text);
        }
        // People is up: the posts are in the feed, and their notices go to Alice's account.
        await eventually("the posts in Joe's feed as Alice's account reads it", async () =>
          (await own.posts.feed(JOE)).posts.length >= DURING + 1 ? true : undefined,
        );
      },
    });
    const shown = await eventually(
      "every post of the outage in the room",
      async () => {
        const list = await posts();
        return expected.every((t) => list.includes(t)) ? list : undefined;
      },
      120_000,
    );
    assert.deepEqual(shown, ["before", ...expected], "each post once, in Joe's order");
  });
});
