// Feed rooms against the real thing: a real Synapse, the bridge with its
// embedded People server (people.test), and Joe's People client on a second
// server (other.test). Joe posts publicly and to a group Alice's address is in
// (with an image); Alice follows him: the newest existing posts arrive first,
// oldest first (bounded by bridge.feeds.backfill_limit), then new ones live
// (a group post by its notice, a public one by the periodic read), and a post
// whose epoch key comes later appears when the key does. Alice replies and
// reacts; Joe's client gets both naming the post, and his answer reaches her DM
// portal. Joe edits and withdraws posts: a Matrix edit and a redaction. The
// tests run in order and share the rooms.
import assert from "node:assert/strict";
import type { PublishedPost, Post } from "../../src/people/client/people-client.js";
import { summary } from "../../src/people/cli/render.js";
import { eventually, type MatrixUser } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf, type PeopleUser } from "../helpers/bridge-world.js";
import { pngBytes } from "../helpers/images.js";
import { bodyOf, roomRest } from "../helpers/room-rest.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const BOB = `bob@${OTHER}`;
const JOE_GHOST = ghostOf(JOE);
const BACKFILL = 3;

type Json = Record<string, unknown>;

describe("feed rooms on a real Synapse: follow, history then live posts, answers, edits and deletions", function () {
  this.timeout(120_000);
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let joe: PeopleUser | undefined;
  let management: string;
  let feedRoom: string;
  let group: string;
  const posts: Record<string, Post | PublishedPost> = {};

  const w = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const user = (): MatrixUser => alice ?? assert.fail("alice not started");
  const joeClient = () => (joe ?? assert.fail("joe not started")).client;
  const rest = roomRest(
    () => w().hs,
    () => user().accessToken,
  );
  const { api, events, send, joinedMembers } = rest;
  /** A command in the management room; resolves with the bot's answer. */
  const command = (body: string) => rest.command(management, body);
  const aliceClient = () =>
    w().bridge.handle.accounts.clientOf(user().userId) ?? assert.fail("Alice has no People client");

  /** The ghost's m.room.message events that are posts (not edits), oldest first. */
  async function ghostPosts(roomId: string): Promise<Json[]> {
    return (await events(roomId)).filter((e) => {
      const c = e.content as Json;
      const rel = c["m.relates_to"] as Json | undefined;
      return e.sender === JOE_GHOST && e.type === "m.room.message" && rel?.rel_type !== "m.replace";
    });
  }

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user" },
      configure: (input) => ({
        ...input,
        bridge: {
          ...input.bridge,
          feeds: { backfill_limit: BACKFILL, poll_interval: "1s" },
          // Ghost profiles read again at the feed's next read: the feed room follows Joe's profile.
          profile_refresh_interval: "1s",
        },
      }),
    });
    joe = await w().startPeopleUser(JOE);
    await w().startPeopleUser(BOB);
    alice = await w().startMatrixUser("alice");
    // Alice's People account exists before Joe adds her to his group (as after any first command).
    await w().bridge.handle.accounts.accountFor(user().userId);
    await joeClient().profile.set({
      display_name: "Joe",
      avatar: { bytes: pngBytes("joe"), mime: "image/png" },
    });
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  it("Joe posts: public posts, and a group post with an image to a group Alice's address is in", async function () {
    posts.p1 = await joeClient().posts.postPublic({ text: "p1: too old to be shown" });
    posts.p2 = await joeClient().posts.postPublic({ text: "p2: hello everyone" });
    const created = await joeClient().groups.createGroup("Friends", [ALICE_PEOPLE]);
    group = created.id;
    await eventually("Alice's account to hold the group's key", async () =>
      (await aliceClient().groups.list()).some((g) => g.id === group) ? true : undefined,
    );
    posts.g3 = await joeClient().posts.post(group, {
      text: "g3: the view from the top",
      attachments: [{ bytes: pngBytes("summit"), mime: "image/png", name: "summit.png" }],
    });
    posts.p4 = await joeClient().posts.postPublic({ text: "p4: back home" });
  });

  it("`follow` makes a feed room named from Joe's profile, with the newest posts first, oldest first", async function () {
    management = await rest.managementRoom();
    assert.match(await command(`follow ${JOE}`), /You follow joe@other\.test now/);
    const room = await w().bridge.handle.store.feeds.roomOf(user().userId, JOE);
    feedRoom = room?.roomId ?? assert.fail("no feed room recorded");
    await eventually("the invite to the feed room", () =>
      user().client.getRoom(feedRoom)?.getMyMembership() === "invite" ? true : undefined,
    );
    await user().client.joinRoom(feedRoom);
    const name = await api(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(feedRoom)}/state/m.room.name/`,
    );
    assert.equal(name.name, "Joe's posts");
    const avatar = await api(
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(feedRoom)}/state/m.room.avatar/`,
    );
    const picture = await fetch(
      `${w().hs.url}/_matrix/client/v1/media/download/${String(avatar.url).slice("mxc://".length)}`,
      { headers: { authorization: `Bearer ${user().accessToken}` } },
    );
    assert.deepEqual(
      Buffer.from(await picture.arrayBuffer()),
      pngBytes("joe"),
      "the room's picture is Joe's",
    );

    const shown = await eventually("the history", async () => {
      const list = await ghostPosts(feedRoom);
      return list.length >= BACKFILL ? list : undefined;
    });
    assert.deepEqual(
      shown.map(bodyOf),
      ["p2: hello everyone", "g3: the view from the top", "p4: back home"],
      "the newest three, oldest first; p1 is older than the backfill",
    );
    const image = shown[1]!.content as Json;
    assert.equal(image.msgtype, "m.image");
    assert.equal(image.filename, "summit.png");
    const mxc = String(image.url);
    assert.match(mxc, /^mxc:\/\//);
    const media = await fetch(
      `${w().hs.url}/_matrix/client/v1/media/download/${mxc.slice("mxc://".length)}`,
      { headers: { authorization: `Bearer ${user().accessToken}` } },
    );
    assert.ok(media.ok, `downloading the image: ${media.status}`);
    assert.deepEqual(Buffer.from(await media.arrayBuffer()), pngBytes("summit"));
    assert.match(await command(`follow ${JOE}`), /already follow/);
  });

  it("shows new posts live: a group post by its notice, a public post by the periodic read", async function () {
    posts.g5 = await joeClient().posts.post(group, { text: "g5: live from the group" });
    posts.p6 = await joeClient().posts.postPublic({ text: "p6: live and public" });
    const shown = await eventually(
      "both live posts",
      async () => {
        const list = (await ghostPosts(feedRoom)).map(bodyOf);
        return list.includes("g5: live from the group") && list.includes("p6: live and public")
          ? list
          : undefined;
      },
      60_000,
    );
    assert.deepEqual(shown.slice(0, 3), ["p2: hello everyone", "g3: the view from the top", "p4: back home"]);
    assert.equal(shown.length, 5, `each post once: ${JSON.stringify(shown)}`);
  });

  it("shows a post whose epoch key arrives later when the key arrives", async function () {
    const other = await joeClient().groups.createGroup("Climbers", [BOB]);
    posts.g7 = await joeClient().posts.post(other.id, { text: "g7: for the climbers" });
    // The feed room reads it and sets it aside: Alice holds no key of that epoch yet.
    await eventually(
      "the post to wait for its key",
      async () =>
        (await w().bridge.handle.store.feeds.waiting(feedRoom)).some((p) => p.postId === posts.g7!.id)
          ? true
          : undefined,
      60_000,
    );
    assert.ok(!(await ghostPosts(feedRoom)).map(bodyOf).includes("g7: for the climbers"));
    await joeClient().groups.addMember(other.id, ALICE_PEOPLE, { rotate: false });
    await eventually(
      "the post once the key is there",
      async () =>
        (await ghostPosts(feedRoom)).map(bodyOf).includes("g7: for the climbers") ? true : undefined,
      60_000,
    );
  });

  it("Alice's reply and reaction reach Joe naming the post; his answer reaches her DM portal", async function () {
    const list = await ghostPosts(feedRoom);
    const g5 = list.find((e) => bodyOf(e) === "g5: live from the group") ?? assert.fail("no g5 event");
    const p4 = list.find((e) => bodyOf(e) === "p4: back home") ?? assert.fail("no p4 event");
    await send(feedRoom, "m.room.message", {
      msgtype: "m.text",
      body: "Looks great!",
      "m.relates_to": { "m.in_reply_to": { event_id: g5.event_id } },
    });
    await send(feedRoom, "m.reaction", {
      "m.relates_to": { rel_type: "m.annotation", event_id: p4.event_id, key: "👍" },
    });
    const rec = (joe ?? assert.fail()).rec;
    const reply = await eventually("Joe to get the reply", () =>
      rec.messages.find(
        (m) => m.from === ALICE_PEOPLE && m.content.type === "text" && m.content.in_reply_to_post,
      ),
    );
    assert.deepEqual(reply.content.type === "text" && reply.content.in_reply_to_post, {
      author: JOE,
      post_id: posts.g5!.id,
    });
    assert.equal(summary(reply.content), `(re your post ${posts.g5!.id}) Looks great!`);
    const reaction = await eventually("Joe to get the reaction", () =>
      rec.messages.find((m) => m.from === ALICE_PEOPLE && m.content.type === "post_reaction"),
    );
    assert.deepEqual(reaction.content, {
      type: "post_reaction",
      post: { author: JOE, post_id: posts.p4!.id },
      key: "👍",
    });
    assert.equal(summary(reaction.content), `(re your post ${posts.p4!.id}) (reaction 👍)`);

    // A message that answers no post is not sent; Alice is told how to answer.
    await send(feedRoom, "m.room.message", { msgtype: "m.text", body: "hello?" });
    await eventually("the ghost's notice", async () =>
      (await events(feedRoom)).some((e) => e.sender === JOE_GHOST && /Reply to a post/.test(bodyOf(e)))
        ? true
        : undefined,
    );

    await joeClient().sendText([ALICE_PEOPLE], "Thanks, Alice!");
    const portal = await eventually(
      "a DM portal with Joe",
      async () => (await w().bridge.handle.store.portals.byPair(user().userId, JOE))?.roomId,
    );
    await eventually("the invite to the portal", () =>
      user().client.getRoom(portal)?.getMyMembership() === "invite" ? true : undefined,
    );
    await user().client.joinRoom(portal);
    await eventually("Joe's answer in the portal", async () =>
      (await events(portal)).some((e) => e.sender === JOE_GHOST && bodyOf(e) === "Thanks, Alice!")
        ? true
        : undefined,
    );
    // By now (a round trip later) a "hello?" sent to Joe would have reached him.
    assert.ok(!rec.messages.some((m) => m.content.type === "text" && m.content.body === "hello?"));
  });

  it("Joe's edit becomes a Matrix edit, and his withdrawn post a redaction", async function () {
    const p4Event =
      (await ghostPosts(feedRoom)).find((e) => bodyOf(e) === "p4: back home") ?? assert.fail("no p4");
    await joeClient().posts.postPublic({ text: "p4: back home, tired", replaces: posts.p4!.id });
    const edit = await eventually(
      "the edit",
      async () =>
        (await events(feedRoom)).find((e) => {
          const rel = (e.content as Json)["m.relates_to"] as Json | undefined;
          return e.sender === JOE_GHOST && rel?.rel_type === "m.replace" && rel.event_id === p4Event.event_id;
        }),
      60_000,
    );
    assert.equal(((edit.content as Json)["m.new_content"] as Json).body, "p4: back home, tired");

    const p2Event =
      (await ghostPosts(feedRoom)).find((e) => bodyOf(e) === "p2: hello everyone") ?? assert.fail("no p2");
    await joeClient().posts.postPublic({ retracts: posts.p2!.id });
    await joeClient().posts.deletePost(posts.p2!.id);
    await eventually(
      "p2 redacted",
      async () => {
        const e = (await events(feedRoom)).find((x) => x.event_id === p2Event.event_id);
        return e && (e.unsigned as Json | undefined)?.redacted_because !== undefined ? true : undefined;
      },
      60_000,
    );
  });

  it("the feed room follows Joe's new profile name and picture, each set once", async function () {
    const state = (type: string) =>
      api("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(feedRoom)}/state/${type}/`);
    const stateEvents = async (type: string) =>
      (await events(feedRoom)).filter((e) => e.type === type && e.sender === JOE_GHOST).length;
    const before = { names: await stateEvents("m.room.name"), avatars: await stateEvents("m.room.avatar") };
    await joeClient().profile.set({
      display_name: "Joseph",
      avatar: { bytes: pngBytes("joseph"), mime: "image/png" },
    });
    await eventually(
      "the room named from Joe's new name",
      async () => ((await state("m.room.name")).name === "Joseph's posts" ? true : undefined),
      90_000,
    );
    const url = await eventually(
      "the room pictured with Joe's new picture",
      async () => {
        const mxc = String((await state("m.room.avatar")).url);
        const r = await fetch(
          `${w().hs.url}/_matrix/client/v1/media/download/${mxc.slice("mxc://".length)}`,
          {
            headers: { authorization: `Bearer ${user().accessToken}` },
          },
        );
        return r.ok && Buffer.from(await r.arrayBuffer()).equals(pngBytes("joseph")) ? mxc : undefined;
      },
      90_000,
    );
    assert.match(url, /^mxc:\/\//);
    // Reads and refreshes go on (one a second); a post shown after them finds each change set once.
    await joeClient().posts.postPublic({ text: "p9: after the new name" });
    await eventually(
      "a public post after the change",
      async () =>
        (await ghostPosts(feedRoom)).some((e) => bodyOf(e) === "p9: after the new name") ? true : undefined,
      90_000,
    );
    assert.equal(await stateEvents("m.room.name"), before.names + 1, "the new name set once");
    assert.equal(await stateEvents("m.room.avatar"), before.avatars + 1, "the new picture set once");
  });

  it("`unfollow` has the ghost say so and leave; nothing more comes", async function () {
    assert.match(await command(`unfollow ${JOE}`), /You no longer follow joe@other\.test/);
    await eventually("the ghost's notice and leave", async () => {
      const said = (await events(feedRoom)).some(
        (e) => e.sender === JOE_GHOST && /You unfollowed/.test(bodyOf(e)),
      );
      return said && !(await joinedMembers(feedRoom)).includes(JOE_GHOST) ? true : undefined;
    });
    assert.equal(await w().bridge.handle.store.feeds.roomOf(user().userId, JOE), undefined);
    assert.match(await command(`unfollow ${JOE}`), /You do not follow/);
  });
});
