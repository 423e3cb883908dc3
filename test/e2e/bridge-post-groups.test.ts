// Groups that post, and public posts, from Matrix, against the real thing: a
// real Synapse, the bridge with its embedded People server (people.test), and
// Joe's and Ann's People clients on a second server (other.test). Alice makes
// a post group with `group create`, invites Joe's and Ann's ghosts (each
// address gets the epoch key), posts text and an image: both read them in
// Alice's feed. She kicks Ann's ghost and posts again: Ann's client, with her
// own keys, cannot open the new post; Joe's can. Joe posts to the group: it
// appears in Alice's room from his ghost. `post <text>` and the room "My public
// posts" make public posts (an edit and a redaction there too) that a reader's
// People client sees. A personal space holds all of Alice's bridge rooms. The
// tests run in order and share the rooms.
import assert from "node:assert/strict";
import type { PeopleClient } from "../../src/people/client/people-client.js";
import { eventually, type MatrixUser } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf } from "../helpers/bridge-world.js";
import { fakeWebm, pngBytes, tinyPng } from "../helpers/images.js";
import { roomPath, roomRest } from "../helpers/room-rest.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const ANN = `ann@${OTHER}`;
type Json = Record<string, unknown>;

describe("post groups and public posts from Matrix, on a real Synapse", function () {
  this.timeout(120_000);
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let management: string;
  let groupRoom: string;
  let group: string;
  let publicRoom: string;

  const w = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const user = (): MatrixUser => alice ?? assert.fail("alice not started");
  const joe = (): PeopleClient => w().person(JOE).client;
  const ann = (): PeopleClient => w().person(ANN).client;
  const rest = roomRest(
    () => w().hs,
    () => user().accessToken,
  );
  const { api, events, send, joinedMembers } = rest;
  const room = roomPath;
  /** A command in the management room; resolves with the bot's answer. */
  const command = (body: string) => rest.command(management, body);

  /** The room Alice was invited to, joined. */
  async function joinInvited(roomId: string): Promise<void> {
    await eventually("the invite", () =>
      user().client.getRoom(roomId)?.getMyMembership() === "invite" ? true : undefined,
    );
    await user().client.joinRoom(roomId);
  }

  /** Alice's posts as a reader's client opens them (and the ones it cannot). */
  const feedOf = (reader: PeopleClient) => reader.posts.feed(ALICE_PEOPLE);

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user" },
      configure: (input) => ({
        ...input,
        bridge: { ...input.bridge, personal_space: { enabled: true, name: "People here" } },
      }),
    });
    await w().startPeopleUser(JOE);
    await w().startPeopleUser(ANN);
    alice = await w().startMatrixUser("alice");
    management = await rest.managementRoom();
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  it("`group create` makes a post group Alice's account owns, and its room", async function () {
    assert.match(await command("group create Hikers of the north"), /Your post group "Hikers of the north"/);
    const rooms = await w().bridge.handle.store.postRooms.rooms();
    const made = rooms.find((r) => r.matrixUser === user().userId && r.audience !== "public");
    if (!made) assert.fail("no post room recorded");
    groupRoom = made.roomId;
    group = made.audience;
    await joinInvited(groupRoom);
    const name = await api("GET", `${room(groupRoom)}/state/m.room.name/`);
    assert.equal(name.name, "Hikers of the north");
    const own = w().bridge.handle.accounts.clientOf(user().userId) ?? assert.fail("no People client");
    const info = await own.groups.get(group);
    assert.equal(info.owner, ALICE_PEOPLE);
    assert.deepEqual(info.members, [ALICE_PEOPLE]);
  });

  it("inviting Joe's and Ann's ghosts adds their addresses: their clients get the key, the ghosts join", async function () {
    for (const address of [JOE, ANN]) await user().client.invite(groupRoom, ghostOf(address));
    for (const reader of [joe(), ann()]) {
      await eventually(
        "the group's key at the member",
        async () => ((await reader.groups.list()).some((g) => g.id === group) ? true : undefined),
        60_000,
      );
    }
    await eventually(
      "both ghosts in the room",
      async () => {
        const m = await joinedMembers(groupRoom);
        return m.includes(ghostOf(JOE)) && m.includes(ghostOf(ANN)) ? true : undefined;
      },
      60_000,
    );
    const own = w().bridge.handle.accounts.clientOf(user().userId)!;
    assert.deepEqual((await own.groups.get(group)).members.sort(), [ALICE_PEOPLE, ANN, JOE].sort());
    assert.equal((await joe().groups.get(group)).name, "Hikers of the north");
  });

  it("what Alice writes there (text, an image) is posted to the group; Joe and Ann read both", async function () {
    await send(groupRoom, "m.room.message", { msgtype: "m.text", body: "g1: we leave at dawn" });
    const upload = await fetch(`${w().hs.url}/_matrix/media/v3/upload?filename=map.png`, {
      method: "POST",
      headers: { authorization: `Bearer ${user().accessToken}`, "content-type": "image/png" },
      body: pngBytes("map"),
    });
    const mxc = String(((await upload.json()) as Json).content_uri);
    await send(groupRoom, "m.room.message", {
      msgtype: "m.image",
      body: "map.png",
      url: mxc,
      info: { mimetype: "image/png", size: pngBytes("map").length },
    });
    for (const reader of [joe(), ann()]) {
      const posts = await eventually(
        "both posts in Alice's feed",
        async () => {
          const feed = await feedOf(reader);
          return feed.posts.length >= 2 ? feed.posts : undefined;
        },
        60_000,
      );
      assert.equal(posts[0]!.text, "g1: we leave at dawn");
      assert.equal(posts[0]!.group, group);
      const image = posts[1]!;
      assert.equal(image.attachments.length, 1);
      assert.equal(image.attachments[0]!.mime, "image/png");
      assert.deepEqual(await reader.posts.download(image.attachments[0]!), pngBytes("map"));
    }
  });

  it("kicking Ann's ghost removes her: her own keys cannot open the next post, Joe's can", async function () {
    const before = (await joe().groups.get(group)).epoch;
    await user().client.kick(groupRoom, ghostOf(ANN), "not coming along");
    await eventually(
      "Joe's client to hold the new epoch",
      async () => ((await joe().groups.get(group)).epoch > before ? true : undefined),
      60_000,
    );
    const own = w().bridge.handle.accounts.clientOf(user().userId)!;
    assert.deepEqual((await own.groups.get(group)).members.sort(), [ALICE_PEOPLE, JOE].sort());
    await send(groupRoom, "m.room.message", { msgtype: "m.text", body: "g3: Ann is not coming" });
    const seen = await eventually(
      "the new post at Joe",
      async () => (await feedOf(joe())).posts.find((p) => p.text === "g3: Ann is not coming"),
      60_000,
    );
    const annFeed = await feedOf(ann());
    assert.ok(!annFeed.posts.some((p) => p.id === seen.id), "Ann opened a post made after her removal");
    const closed = annFeed.unopenable.find((u) => u.id === seen.id);
    assert.ok(closed, "the new post is listed to Ann as unopenable");
    assert.equal(closed.code, "PEOPLE_UNKNOWN_KEY");
    assert.equal(annFeed.posts.length, 2, "Ann still opens the two posts made while she was a member");
  });

  it("Joe's post to the group appears in Alice's room from his ghost", async function () {
    await joe().posts.post(group, { text: "j1: I'll bring the tea" });
    const shown = await eventually(
      "Joe's post in the group's room",
      async () =>
        (await events(groupRoom)).find(
          (e) => e.sender === ghostOf(JOE) && (e.content as Json).body === "j1: I'll bring the tea",
        ),
      60_000,
    );
    assert.equal(shown.type, "m.room.message");
  });

  it("renaming the room renames the group at its members", async function () {
    await api("PUT", `${room(groupRoom)}/state/m.room.name/`, { name: "Hikers" });
    await eventually(
      "the new name at Joe",
      async () => ((await joe().groups.get(group)).name === "Hikers" ? true : undefined),
      60_000,
    );
  });

  /** Uploads bytes to the homeserver as Alice; the mxc URI. */
  async function uploadMedia(bytes: Buffer, name: string, mime: string): Promise<string> {
    const res = await fetch(`${w().hs.url}/_matrix/media/v3/upload?filename=${encodeURIComponent(name)}`, {
      method: "POST",
      headers: { authorization: `Bearer ${user().accessToken}`, "content-type": mime },
      body: bytes,
    });
    return String(((await res.json()) as Json).content_uri);
  }

  async function downloadMxc(mxc: string): Promise<Buffer> {
    const match = /^mxc:\/\/([^/]+)\/(.+)$/.exec(mxc) ?? assert.fail(`not an mxc URI: ${mxc}`);
    const res = await fetch(`${w().hs.url}/_matrix/client/v1/media/download/${match[1]}/${match[2]}`, {
      headers: { authorization: `Bearer ${user().accessToken}` },
    });
    assert.equal(res.status, 200);
    return Buffer.from(await res.arrayBuffer());
  }

  it("the room's topic and picture, set by Alice, become the group's: Joe's client has both", async function () {
    await api("PUT", `${room(groupRoom)}/state/m.room.topic/`, { topic: "Dawn walks, north side" });
    const picture = tinyPng(16, 16, 3);
    const url = await uploadMedia(picture, "group.png", "image/png");
    await api("PUT", `${room(groupRoom)}/state/m.room.avatar/`, { url, info: { mimetype: "image/png" } });
    const info = await eventually(
      "the topic and picture at Joe",
      async () => {
        const g = await joe().groups.get(group);
        return g.topic === "Dawn walks, north side" && g.avatar ? g : undefined;
      },
      60_000,
    );
    assert.equal(info.avatar!.mime, "image/png");
    assert.deepEqual(
      await joe().downloadAttachment(info.avatar!),
      picture,
      "the picture opens with Joe's keys",
    );
    assert.equal(info.name, "Hikers", "the name stays");
    assert.equal((await ann().groups.get(group)).topic, null, "Ann, removed, is not told");
  });

  it("an m.video with a thumbnail written in the room is posted with its thumbnail; Joe's client opens both", async function () {
    const video = fakeWebm();
    const thumb = tinyPng(64, 36, 1);
    const url = await uploadMedia(video, "climb.webm", "video/webm");
    const thumbUrl = await uploadMedia(thumb, "climb.png", "image/png");
    await send(groupRoom, "m.room.message", {
      msgtype: "m.video",
      body: "g4: the climb",
      filename: "climb.webm",
      url,
      info: {
        mimetype: "video/webm",
        size: video.length,
        thumbnail_url: thumbUrl,
        thumbnail_info: { mimetype: "image/png", size: thumb.length, w: 64, h: 36 },
      },
    });
    const post = await eventually(
      "the video post at Joe",
      async () => (await feedOf(joe())).posts.find((p) => p.attachments[0]?.mime === "video/webm"),
      60_000,
    );
    assert.equal(post.text, "g4: the climb");
    const a = post.attachments[0]!;
    const t = a.thumbnail ?? assert.fail("the post has no thumbnail");
    assert.deepEqual([t.mime, t.width, t.height], ["image/png", 64, 36], "the sides measured from the image");
    assert.deepEqual(await joe().posts.download(a), video);
    assert.deepEqual(await joe().posts.download(t), thumb);
  });

  it("Joe's video with a thumbnail arrives as m.video with thumbnail_url and thumbnail_info", async function () {
    const video = fakeWebm();
    const thumb = tinyPng(48, 32, 2);
    await joe().posts.post(group, {
      text: "j2: from the top",
      attachments: [
        {
          bytes: video,
          mime: "video/webm",
          name: "top.webm",
          thumbnail: { bytes: thumb, mime: "image/png" },
        },
      ],
    });
    const shown = await eventually(
      "Joe's video in the group's room",
      async () =>
        (await events(groupRoom)).find(
          (e) => e.sender === ghostOf(JOE) && (e.content as Json).msgtype === "m.video",
        ),
      60_000,
    );
    const content = shown.content as Json;
    assert.equal(content.body, "j2: from the top");
    const info = content.info as Json;
    assert.equal(info.mimetype, "video/webm");
    assert.deepEqual(info.thumbnail_info, { mimetype: "image/png", size: thumb.length, w: 48, h: 32 });
    assert.match(String(info.thumbnail_url), /^mxc:\/\//);
    assert.deepEqual(await downloadMxc(String(info.thumbnail_url)), thumb);
    assert.deepEqual(await downloadMxc(String(content.url)), video);
  });

  it("`post <text>` posts publicly, and makes the room My public posts", async function () {
    assert.match(await command("post hello from Matrix"), /Posted publicly/);
    const p = await eventually("the public post at Joe", async () =>
      (await feedOf(joe())).posts.find((x) => x.text === "hello from Matrix"),
    );
    assert.equal(p.public, true);
    const made = await w().bridge.handle.store.postRooms.of(user().userId, "public");
    publicRoom = made?.roomId ?? assert.fail("no public posts room");
    await joinInvited(publicRoom);
    const name = await api("GET", `${room(publicRoom)}/state/m.room.name/`);
    assert.equal(name.name, "My public posts");
    assert.match(await command("posts room"), /already/);
  });

  it("in My public posts, a message is a public post, an edit edits it, a redaction withdraws it", async function () {
    const original = await send(publicRoom, "m.room.message", { msgtype: "m.text", body: "pub: first try" });
    const posted = await eventually("the room's post at Joe", async () =>
      (await feedOf(joe())).posts.find((x) => x.text === "pub: first try"),
    );
    assert.equal(posted.public, true);
    await send(publicRoom, "m.room.message", {
      msgtype: "m.text",
      body: "* pub: second try",
      "m.new_content": { msgtype: "m.text", body: "pub: second try" },
      "m.relates_to": { rel_type: "m.replace", event_id: original },
    });
    const edit = await eventually("the edit at Joe", async () =>
      (await feedOf(joe())).posts.find((x) => x.replaces === posted.id),
    );
    assert.equal(edit.text, "pub: second try");
    await api("PUT", `${room(publicRoom)}/redact/${encodeURIComponent(original)}/r${Date.now()}`, {});
    await eventually("the retraction at Joe", async () =>
      (await feedOf(joe())).posts.find((x) => x.retracts === posted.id),
    );
  });

  it("Alice's personal space holds her management room, post rooms, DM portal and feed room", async function () {
    assert.match(await command(`dm ${JOE}`), /./);
    assert.match(await command(`follow ${JOE}`), /You follow/);
    const dm = (await w().bridge.handle.store.portals.byPair(user().userId, JOE))?.roomId;
    const feed = (await w().bridge.handle.store.feeds.roomOf(user().userId, JOE))?.roomId;
    assert.ok(dm && feed, "the DM portal and the feed room are recorded");
    const space = await eventually("Alice's space", () =>
      w().bridge.handle.store.spaces.spaceOf(user().userId),
    );
    await joinInvited(space);
    const create = await api("GET", `${room(space)}/state/m.room.create/`);
    assert.equal(create.type, "m.space");
    assert.equal((await api("GET", `${room(space)}/state/m.room.name/`)).name, "People here");
    const wanted = [management, groupRoom, publicRoom, dm, feed];
    let children: string[] = [];
    const missing = () => wanted.filter((r) => !children.includes(r));
    await eventually(
      "every room in the space",
      async () => {
        const state = (await api("GET", `${room(space)}/state`)) as unknown as Json[];
        children = state
          .filter((e) => e.type === "m.space.child" && Array.isArray((e.content as Json).via))
          .map((e) => String(e.state_key));
        return missing().length === 0 ? true : undefined;
      },
      60_000,
    ).catch(() => assert.deepEqual(missing(), [], "rooms missing from the space"));
    assert.equal(new Set(children).size, children.length);
    // The bot made the post rooms, so it may name the space as their parent too.
    const parent = await api("GET", `${room(groupRoom)}/state/m.space.parent/${encodeURIComponent(space)}`);
    assert.equal(parent.canonical, true);
  });
});
