// A post group's room follows the group's details changed on the owner's other
// People device (feeds/post-room-details.ts), on a real Synapse: Alice links
// her own People program to the address the bridge made for her (`link-code`),
// makes a post group from Matrix (`group create`), and renames it, gives it a
// topic and a picture from that program. The room's name, topic and picture
// follow, set by the bot; the group at her program keeps what she set there
// (nothing came back from the bridge's own state events).
import assert from "node:assert/strict";
import type { PeopleClient } from "../../src/people/client/people-client.js";
import { eventually, type MatrixUser } from "../helpers/bridge-harness.js";
import { BridgeWorld, PEOPLE_DOMAIN } from "../helpers/bridge-world.js";
import { pngBytes } from "../helpers/images.js";
import { BOT, roomPath, roomRest } from "../helpers/room-rest.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
type Json = Record<string, unknown>;

describe("a post group's room follows details changed on the owner's other device, on a real Synapse", function () {
  this.timeout(180_000);
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let cli: PeopleClient | undefined;
  let management: string;

  const w = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const user = (): MatrixUser => alice ?? assert.fail("alice not started");
  const own = (): PeopleClient => cli ?? assert.fail("Alice's program is not linked");
  const rest = roomRest(
    () => w().hs,
    () => user().accessToken,
  );
  const { api, events } = rest;
  const room = roomPath;
  /** A command in the management room; resolves with the bot's answer. */
  const command = (body: string) => rest.command(management, body);

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({ permissions: { "@alice:localhost": "user" } });
    alice = await w().startMatrixUser("alice");
    management = await rest.managementRoom();
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  it("renames, re-topics and re-pictures the room, as the bot, from the other device's change", async function () {
    const answer = await command("link-code");
    const code = /--code ([a-z2-7-]+)/.exec(answer)?.[1] ?? assert.fail(`no code in: ${answer}`);
    cli = (await w().linkPeopleUser(ALICE_PEOPLE, code, "alice-cli")).client;

    assert.match(await command("group create Walks"), /Your post group "Walks"/);
    const made = (await w().bridge.handle.store.postRooms.rooms()).find(
      (r) => r.matrixUser === user().userId && r.audience !== "public",
    );
    const roomId = made?.roomId ?? assert.fail("no post group room recorded");
    const group = made!.audience;
    await eventually("the invite to the group's room", () =>
      user().client.getRoom(roomId)?.getMyMembership() === "invite" ? true : undefined,
    );
    await user().client.joinRoom(roomId);
    // Her program holds the group (the bridge's device sent its key to her other devices).
    await eventually("the group at Alice's program", async () =>
      (await own().groups.list()).some((g) => g.id === group && g.isOwner) ? true : undefined,
    );

    await own().groups.rename(group, "Sunday walks");
    const picture = await own().uploadAttachment(pngBytes("walks"), { mime: "image/png" });
    const set = await own().groups.setDetails(group, { topic: "Where we go", avatar: picture });
    const state = (type: string) => api("GET", `${room(roomId)}/state/${type}/`);
    await eventually(
      "the room's name, topic and picture from the other device",
      async () => {
        const [name, topic, avatar] = await Promise.all([
          state("m.room.name"),
          state("m.room.topic").catch(() => ({}) as Json),
          state("m.room.avatar").catch(() => ({}) as Json),
        ]);
        return name.name === "Sunday walks" &&
          topic.topic === "Where we go" &&
          avatar["org.people.blob"] === picture.id
          ? avatar
          : undefined;
      },
      90_000,
    );
    const changes = (await events(roomId)).filter((e) =>
      ["m.room.name", "m.room.topic", "m.room.avatar"].includes(String(e.type)),
    );
    const last = (type: string) => changes.filter((e) => e.type === type).at(-1);
    for (const type of ["m.room.name", "m.room.topic", "m.room.avatar"])
      assert.equal(last(type)?.sender, BOT, `${type} set by the bot`);
    const avatar = (await state("m.room.avatar")) as Json;
    const r = await fetch(
      `${w().hs.url}/_matrix/client/v1/media/download/${String(avatar.url).slice("mxc://".length)}`,
      { headers: { authorization: `Bearer ${user().accessToken}` } },
    );
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), pngBytes("walks"), "the group's picture");

    // Nothing came back: her program's group is as she set it, at the same epoch.
    const now = await own().groups.get(group);
    assert.equal(now.name, "Sunday walks");
    assert.equal(now.topic, "Where we go");
    assert.equal(now.epoch, set.epoch);
  });
});
