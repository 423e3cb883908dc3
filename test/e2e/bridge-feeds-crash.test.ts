// A feed room survives the bridge being SIGKILLed between a post notice and
// the Matrix send: the bridge runs as its real command in a child process,
// Alice follows Joe, and Joe posts a stream of group posts (each announced by
// a notice) while the bridge is killed and restarted again and again. Then
// every post is in the feed room exactly once, in order (counted by text).
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { eventually, type MatrixUser } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf, type PeopleUser } from "../helpers/bridge-world.js";
import { bodyOf, roomRest } from "../helpers/room-rest.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const JOE_GHOST = ghostOf(JOE);

describe("crash safety of feed rooms: the bridge SIGKILLed while posts arrive", function () {
  this.timeout(300_000);
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let joe: PeopleUser | undefined;
  let feedRoom: string;
  let group: string;

  const w = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const user = (): MatrixUser => alice ?? assert.fail("alice not started");
  const joeClient = () => (joe ?? assert.fail("joe not started")).client;
  const rest = roomRest(
    () => w().hs,
    () => user().accessToken,
  );

  /** Joe's ghost's messages in the room, oldest first. */
  async function bodies(roomId: string): Promise<string[]> {
    return (await rest.events(roomId))
      .filter((e) => e.sender === JOE_GHOST && e.type === "m.room.message")
      .map(bodyOf);
  }

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user" },
      // No periodic read: what comes after a kill comes from the notices and the read at start.
      configure: (input) => ({ ...input, bridge: { ...input.bridge, feeds: { poll_interval: "1h" } } }),
      childProcess: true,
    });
    joe = await w().startPeopleUser(JOE);
    alice = await w().startMatrixUser("alice");
    const management = await rest.managementRoom();
    // Alice's People account is made by her first command; Joe's group needs it.
    await rest.send(management, "m.room.message", { msgtype: "m.text", body: `follow ${JOE}` });
    feedRoom = await eventually(
      "the invite to the feed room",
      () =>
        user()
          .client.getRooms()
          .find((r) => r.getMyMembership() === "invite" && r.roomId !== management)?.roomId,
      60_000,
    );
    await user().client.joinRoom(feedRoom);
    group = (await joeClient().groups.createGroup("Friends", [ALICE_PEOPLE])).id;
    // The warm-up post shows the group key reached Alice and the notices flow.
    await joeClient().posts.post(group, { text: "warm-up" });
    await eventually(
      "the warm-up post",
      async () => ((await bodies(feedRoom)).includes("warm-up") ? true : undefined),
      60_000,
    );
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  it("shows every post once, in order, across SIGKILLs and restarts", async function () {
    const N = 30;
    const MIN_KILLS = 2;
    const texts = Array.from({ length: N }, (_, i) => `post-${String(i).padStart(2, "0")}`);
    let done = false;
    let kills = 0;
    const poster = (async () => {
      for (const text of texts) {
        await joeClient().posts.post(group, { text });
        await sleep(150);
      }
      done = true;
    })();
    const killer = (async () => {
      while (!done || kills < MIN_KILLS) {
        await sleep(1_500 + Math.random() * 1_500);
        await w().child.kill("SIGKILL");
        kills++;
        await sleep(200);
        await w().child.start(120_000);
      }
    })();
    await Promise.all([poster, killer]);
    await eventually(
      "every post in the feed room",
      async () => {
        const seen = new Set(await bodies(feedRoom));
        return texts.every((t) => seen.has(t)) ? true : undefined;
      },
      180_000,
    ).catch(async (err: unknown) => {
      const seen = new Set(await bodies(feedRoom));
      console.error(`      missing: ${texts.filter((t) => !seen.has(t)).join(", ")}`);
      for (const l of w().child.logs.filter((x) => Number(x.level) >= 40 || x.component === "feeds"))
        console.error(`      ${JSON.stringify(l).slice(0, 500)}`);
      throw err;
    });
    const shown = (await bodies(feedRoom)).filter((b) => b.startsWith("post-"));
    console.log(
      `      feed room: ${N} group posts, ${kills} kills and restarts; ${shown.length} events shown`,
    );
    assert.ok(kills >= MIN_KILLS);
    assert.deepEqual(shown, texts, "each post once, in order");
  });
});
