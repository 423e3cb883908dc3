// A post group's room follows the group's details changed on the owner's other
// People device (feeds/post-room-details.ts), through the feeds feature as
// startBridge composes it (createFeeds over a real SQLite bridge store, a fake
// homeserver and People account): a group_key from the account's own address
// sets the room's name, topic and picture as the bot; the same key again
// changes nothing; another member's key, or a group without a room, changes
// nothing; the bot's own state events are never taken back to People.
import assert from "node:assert/strict";
import { openBridgeStore } from "../../src/bridge/adapters/store/open-bridge-store.js";
import { parseBridgeConfig } from "../../src/bridge/config.js";
import type { IncomingHandler, PostWriter } from "../../src/bridge/core/ports/people-side.js";
import type { BridgeStore, PostRoom } from "../../src/bridge/core/ports/store.js";
import { createFeeds, type Feeds } from "../../src/bridge/feeds/feeds.js";
import { AVATAR_BLOB_KEY } from "../../src/bridge/feeds/post-room-details.js";
import type { MatrixUserId } from "../../src/bridge/model/matrix-ids.js";
import type { BlobRef, MessageContent } from "../../src/people/protocol/messages.js";
import { FakeAccount, FakeGhosts, FakePeople, incoming, silentLog } from "../helpers/portal-fakes.js";

const ALICE = "@alice:hs.test";
const BOT = "@bot:hs.test";
const KEY = "A".repeat(43);

class StateGhosts extends FakeGhosts {
  uploads = 0;
  override async uploadMedia(ghost: MatrixUserId, bytes: Buffer): Promise<string> {
    this.uploads++;
    return super.uploadMedia(ghost, bytes);
  }
}

describe("a post group's room follows the group's details from the owner's other device", function () {
  let store: BridgeStore;
  let ghosts: StateGhosts;
  let account: FakeAccount;
  let feeds: Feeds;
  let flow: IncomingHandler;
  let passedOn: string[];
  let room: PostRoom;
  /** What the account's People client holds of the group now. */
  let held: { name: string | null; topic: string | null; avatar: BlobRef | null };
  const renamed: string[] = [];

  const keyFrom = (from: string, extra: Partial<Extract<MessageContent, { type: "group_key" }>> = {}) =>
    incoming({
      from,
      to: [account.address],
      content: {
        type: "group_key",
        group: room.audience,
        epoch: 0,
        key: KEY,
        members: [account.address],
        ...extra,
      },
    });
  const sets = (type: string) => ghosts.stateSets.filter((s) => s.roomId === room.roomId && s.type === type);

  beforeEach(async function () {
    store = await openBridgeStore({ engine: "sqlite", connection: ":memory:" });
    ghosts = new StateGhosts();
    const people = new FakePeople();
    account = await people.accountFor(ALICE);
    held = { name: "Walks", topic: null, avatar: null };
    const fail = () => Promise.reject(new Error("not in this test"));
    const writer: PostWriter = {
      createGroup: async (_name, sourceId) => ({ id: `G${sourceId.slice(1).padEnd(21, "A")}`, epoch: 0 }),
      addMember: fail,
      removeMember: fail,
      rename: async (_group, name) => void renamed.push(name),
      setDetails: fail,
      members: async () => [account.address],
      post: fail,
      details: async () => held,
    };
    Object.assign(account, { postWriter: writer });
    const config = parseBridgeConfig({
      homeserver: { url: "https://hs.test", domain: "hs.test" },
      people: { domain: "people.test" },
    });
    feeds = createFeeds({
      ghosts,
      people,
      store,
      log: silentLog,
      config,
      matrix: { botUserId: BOT, sendNotice: async () => undefined, leaveRoom: async () => undefined },
    });
    passedOn = [];
    flow = feeds.withOwnFlows(async (_a, m) => void passedOn.push(m.content.type));
    room = await feeds.postRooms.createGroup(ALICE, "Walks", "$create");
    ghosts.stateSets.length = 0;
    renamed.length = 0;
  });

  afterEach(async function () {
    await feeds.stop();
    await store.close();
  });

  it("sets what changed as the bot, once; the same key again changes nothing", async function () {
    const picture = await account.uploadAttachment(Buffer.from("a png"), { mime: "image/png" });
    held = { name: "Sunday walks", topic: "Where we go", avatar: picture };
    const key = keyFrom(account.address, { name: "Sunday walks", topic: "Where we go", avatar: picture });
    await flow(account, key);
    assert.deepEqual(passedOn, [], "the key is the feeds feature's, not the message flow's");
    assert.deepEqual(
      sets("m.room.name").map((s) => [s.ghost, s.content.name]),
      [[BOT, "Sunday walks"]],
    );
    assert.deepEqual(
      sets("m.room.topic").map((s) => s.content.topic),
      ["Where we go"],
    );
    const [avatar, ...more] = sets("m.room.avatar");
    assert.equal(more.length, 0);
    assert.equal(avatar?.content[AVATAR_BLOB_KEY], picture.id);
    assert.deepEqual(ghosts.media.get(String(avatar?.content.url)), Buffer.from("a png"));

    // Redelivered (the bridge stopped before acknowledging it): the room already shows it.
    await flow(account, key);
    assert.equal(ghosts.stateSets.length, 3);
    assert.equal(ghosts.uploads, 1);

    // The picture and topic removed on the other device.
    held = { name: "Sunday walks", topic: null, avatar: null };
    await flow(account, keyFrom(account.address, { name: "Sunday walks", topic: "", avatar: null }));
    assert.deepEqual(sets("m.room.topic").at(-1)?.content, { topic: "" });
    assert.deepEqual(sets("m.room.avatar").at(-1)?.content, {});
    assert.equal(ghosts.stateSets.length, 5);
  });

  it("keeps the room's own topic and picture while the group has none", async function () {
    held = { name: "Walks 2", topic: null, avatar: null };
    await flow(account, keyFrom(account.address, { name: "Walks 2" }));
    assert.deepEqual(
      ghosts.stateSets.map((s) => s.type),
      ["m.room.name"],
    );
  });

  it("ignores another member's key, and a group with no room here", async function () {
    held = { name: "Not this", topic: "x", avatar: null };
    await flow(account, keyFrom("joe@other.test", { name: "Not this", topic: "x" }));
    const other = keyFrom(account.address, { name: "Not this" });
    await flow(account, {
      ...other,
      content: {
        ...(other.content as Extract<MessageContent, { type: "group_key" }>),
        group: "B".repeat(22),
      },
    });
    assert.deepEqual(ghosts.stateSets, []);
  });

  it("does not take the bot's own room name back to People (no echo)", async function () {
    held = { name: "Sunday walks", topic: null, avatar: null };
    await flow(account, keyFrom(account.address, { name: "Sunday walks" }));
    const ev = (sender: string, name: string) => ({
      type: "m.room.name",
      roomId: room.roomId,
      sender,
      eventId: `$name-${sender}`,
      stateKey: "",
      content: { name },
    });
    assert.equal(await feeds.handle(ev(BOT, "Sunday walks")), true);
    assert.deepEqual(renamed, []);
    // The owner's own rename still goes to People: the check above can fail.
    assert.equal(await feeds.handle(ev(ALICE, "Mine")), true);
    assert.deepEqual(renamed, ["Mine"]);
  });
});
