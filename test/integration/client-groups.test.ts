// Groups and posts with real clients against two real People servers
// (a.test, b.test) over TLS. Jane (a.test) owns a group with Joe (b.test)
// and Ann (a.test); Bob (b.test) joins later. The tests run in order and
// share the devices.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PeopleClient, type Post } from "../../src/people/client/people-client.js";
import { b64u } from "../../src/people/protocol/bytes.js";
import { newMessageId } from "../../src/people/protocol/ids.js";
import { Ed25519KeyPair } from "../../src/people/protocol/keys.js";
import { signBytes } from "../../src/people/protocol/signing.js";
import { fakeWebm, tinyPng } from "../helpers/images.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { clientOptions, networkOf, removeTempDirs, tempDir, waitUntil } from "../helpers/client-fixtures.js";

const JANE = "jane@a.test";
const ANN = "ann@a.test";
const JOE = "joe@b.test";
const BOB = "bob@b.test";

interface Member {
  address: string;
  dir: string;
  client: PeopleClient;
  /** Posts announced by notices, as the `post` event gave them. */
  noticed: Post[];
  keyRejections: string[];
}

describe("People client: groups and posts", function () {
  this.timeout(60_000);
  let a: TestServer;
  let b: TestServer;
  const m: Record<string, Member> = {};
  let group = "";
  const posts: Record<string, string> = {};
  const image = Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), randomBytes(40_000)]);

  before(async function () {
    a = await startTestServer("a.test");
    b = await startTestServer("b.test");
    const network = networkOf([a, b]);
    for (const address of [JANE, ANN, JOE, BOB]) {
      const dir = tempDir(address.split("@")[0]!);
      const client = await PeopleClient.create({ ...clientOptions(network, dir), address });
      const member: Member = { address, dir, client, noticed: [], keyRejections: [] };
      client.posts.events.on("post", (p) => member.noticed.push(p));
      client.groups.events.on("rejected", (r) => member.keyRejections.push(r.code));
      await client.start();
      m[address] = member;
    }
  });

  after(async () => {
    for (const x of Object.values(m)) await x.client.close().catch(() => undefined);
    await a?.stop();
    await b?.stop();
    removeTempDirs();
  });

  const client = (address: string) => m[address]!.client;
  const holdsEpoch = (address: string, epoch: number) => async () =>
    (await client(address).groups.list()).some((g) => g.id === group && g.epoch === epoch);
  const noticed = (address: string, id: string) => () => m[address]!.noticed.some((p) => p.id === id);

  it("delivers the epoch key to every member; a post with text and an image reaches them by notice and by feed", async () => {
    const created = await client(JANE).groups.createGroup("Weekend hikers", [JOE, ANN]);
    group = created.id;
    assert.equal(created.epoch, 0);
    assert.deepEqual(created.members, [JANE, JOE, ANN]);
    assert.deepEqual(created.undelivered, []);
    await waitUntil(holdsEpoch(JOE, 0), "Joe holds epoch 0");
    await waitUntil(holdsEpoch(ANN, 0), "Ann holds epoch 0");
    const seen = await client(JOE).groups.get(group);
    assert.equal(seen.owner, JANE);
    assert.equal(seen.isOwner, false);
    assert.equal(seen.name, "Weekend hikers", "group_key carries the name to every member");
    assert.equal((await client(ANN).groups.get(group)).name, "Weekend hikers");
    assert.deepEqual(await client(ANN).groups.members(group), [JANE, JOE, ANN]);

    const p1 = await client(JANE).posts.post(group, {
      text: "Summit at dawn",
      attachments: [{ bytes: image, mime: "image/png", name: "summit.png", width: 640, height: 480 }],
    });
    posts.p1 = p1.id;
    assert.deepEqual(p1.undelivered, []);
    for (const reader of [JOE, ANN]) {
      await waitUntil(noticed(reader, p1.id), `${reader} gets the post by notice`);
      const post = m[reader]!.noticed.find((p) => p.id === p1.id)!;
      assert.equal(post.author, JANE);
      assert.equal(post.text, "Summit at dawn");
      assert.equal(post.group, group);
      assert.equal(post.epoch, 0);
      assert.equal(post.public, false);
      assert.equal(post.attachments.length, 1);
      assert.equal(post.attachments[0]!.width, 640);
      assert((await client(reader).posts.download(post.attachments[0]!)).equals(image), "the image decrypts");

      const feed = await client(reader).posts.feed(JANE);
      assert.deepEqual(
        feed.posts.map((p) => [p.id, p.text]),
        [[p1.id, "Summit at dawn"]],
      );
      assert.deepEqual(feed.unopenable, []);
    }
    // The author reads its own feed too.
    assert.equal((await client(JANE).posts.feed(JANE)).posts[0]?.id, p1.id);
  });

  it("removing Ann rotates the epoch: Ann cannot open the next post, Joe can", async () => {
    const update = await client(JANE).groups.removeMember(group, ANN);
    assert.equal(update.epoch, 1);
    assert.deepEqual(update.members, [JANE, JOE]);
    await waitUntil(holdsEpoch(JOE, 1), "Joe holds epoch 1");

    const p2 = await client(JANE).posts.post(group, { text: "Ann is not here any more" });
    posts.p2 = p2.id;
    await waitUntil(noticed(JOE, p2.id), "Joe gets the post by notice");
    assert.equal(m[JOE]!.noticed.find((p) => p.id === p2.id)?.epoch, 1);

    const joeFeed = await client(JOE).posts.feed(JANE);
    assert.deepEqual(
      joeFeed.posts.map((p) => p.id),
      [posts.p1, p2.id],
    );
    const annFeed = await client(ANN).posts.feed(JANE);
    assert.deepEqual(
      annFeed.posts.map((p) => p.id),
      [posts.p1],
      "Ann still reads what was posted while she was a member",
    );
    assert.deepEqual(
      annFeed.unopenable.map((u) => [u.id, u.code, u.epoch]),
      [[p2.id, "PEOPLE_UNKNOWN_KEY", 1]],
    );
    assert(!m[ANN]!.noticed.some((p) => p.id === p2.id), "Ann got no notice");
    assert.equal((await client(ANN).groups.get(group)).epoch, 0, "Ann holds no newer key");
  });

  it("a new member gets the current epoch key only: Bob reads new posts, not the earlier ones", async () => {
    const update = await client(JANE).groups.addMember(group, BOB);
    assert.equal(update.epoch, 2, "adding rotates too, so the newcomer cannot read the current epoch's past");
    assert.deepEqual(update.members, [JANE, JOE, BOB]);
    await waitUntil(holdsEpoch(BOB, 2), "Bob holds epoch 2");
    await waitUntil(holdsEpoch(JOE, 2), "Joe holds epoch 2");

    const p3 = await client(JANE).posts.post(group, { text: "Welcome, Bob" });
    posts.p3 = p3.id;
    await waitUntil(noticed(BOB, p3.id), "Bob gets the post by notice");
    await waitUntil(noticed(JOE, p3.id), "Joe gets the post by notice");

    const bobFeed = await client(BOB).posts.feed(JANE);
    assert.deepEqual(
      bobFeed.posts.map((p) => p.id),
      [p3.id],
    );
    assert.deepEqual(
      bobFeed.unopenable.map((u) => [u.id, u.code]),
      [
        [posts.p1, "PEOPLE_UNKNOWN_KEY"],
        [posts.p2, "PEOPLE_UNKNOWN_KEY"],
      ],
    );
    const annFeed = await client(ANN).posts.feed(JANE);
    assert.deepEqual(
      annFeed.unopenable.map((u) => u.id),
      [posts.p2, p3.id],
    );
  });

  it("a member's post reaches the others; keys from anyone but the owner are refused", async () => {
    const byJoe = await client(JOE).posts.post(group, { text: "Bring water" });
    await waitUntil(noticed(JANE, byJoe.id), "Jane gets Joe's post");
    await waitUntil(noticed(BOB, byJoe.id), "Bob gets Joe's post");
    assert.equal(m[BOB]!.noticed.find((p) => p.id === byJoe.id)?.author, JOE);

    // Ann, removed, tries to hand Joe a key of her own for Jane's group.
    await client(ANN).send([JOE], {
      type: "group_key",
      group,
      epoch: 7,
      key: b64u(randomBytes(32)),
      members: [ANN, JOE],
    });
    // And a second, different key for an epoch Joe holds, even from the owner, is refused.
    await client(JANE).send([JOE], {
      type: "group_key",
      group,
      epoch: 2,
      key: b64u(randomBytes(32)),
      members: [JANE, JOE, BOB],
    });
    await waitUntil(() => m[JOE]!.keyRejections.length >= 2, "both keys refused");
    assert.deepEqual(m[JOE]!.keyRejections, ["PEOPLE_FORBIDDEN", "PEOPLE_FORBIDDEN"]);
    const joeView = await client(JOE).groups.get(group);
    assert.equal(joeView.epoch, 2);
    assert.equal(joeView.owner, JANE);
    // Posts still open with the key Joe kept.
    assert((await client(JOE).posts.feed(JANE)).posts.some((p) => p.id === posts.p3));
    // Only the owner changes the members.
    await assert.rejects(client(JOE).groups.addMember(group, ANN), /owner/);
  });

  it("a notice that overtakes the key of its epoch waits for the key", async () => {
    const later = await client(JANE).groups.createGroup("Later");
    const p = await client(JANE).posts.post(later.id, { text: "Before Bob had the key" });
    // The order a member's notice and the owner's key can arrive in: the notice first.
    await client(JANE).send([BOB], {
      type: "post_notice",
      author: JANE,
      group: later.id,
      post: p.id,
      epoch: 0,
    });
    // Without rotation the newcomer gets the current key, and so reads this epoch's earlier posts.
    const update = await client(JANE).groups.addMember(later.id, BOB, { rotate: false });
    assert.equal(update.epoch, 0);
    await waitUntil(noticed(BOB, p.id), "Bob gets the post once the key came");
    assert.equal(m[BOB]!.noticed.find((x) => x.id === p.id)?.text, "Before Bob had the key");
  });

  it("a public post verifies for anyone; forged, replayed and moved posts are refused", async () => {
    const pub = await client(JANE).posts.postPublic({ text: "Trail is open" });
    const stranger = await client(BOB).posts.feed(JANE);
    const got = stranger.posts.find((p) => p.id === pub.id);
    assert(got, "Bob reads the public post");
    assert.equal(got.public, true);
    assert.equal(got.text, "Trail is open");

    // A malicious a.test inserts posts into Jane's feed; b.test into Joe's.
    const list = await a.handle.store.feed.list(JANE, 0, 200, false);
    const stored = (id: string) =>
      JSON.parse(list.find((p) => p.postId === id)!.bodyJson) as Record<string, unknown>;
    const forgedBody = Buffer.from(
      JSON.stringify({
        v: 1,
        type: "people.post",
        id: newMessageId(),
        author: JANE,
        ts: Date.now(),
        text: "Send me money",
      }),
    );
    const forged = {
      body: b64u(forgedBody),
      sig: b64u(signBytes(Ed25519KeyPair.generate(), "post", forgedBody)),
    };
    const insert = (server: TestServer, author: string, postId: string, post: object, isPublic: boolean) =>
      server.handle.store.feed.add({
        author,
        postId,
        bodyJson: JSON.stringify(post),
        isPublic,
        createdAt: Date.now(),
        blobIds: [],
      });
    const forgedId = JSON.parse(forgedBody.toString()).id as string;
    await insert(a, JANE, forgedId, forged, true);
    const replayedId = newMessageId();
    await insert(a, JANE, replayedId, stored(pub.id), true); // Jane's real post under another id
    const movedId = newMessageId();
    await insert(a, JANE, movedId, stored(posts.p3!), false); // a group post under another id
    const stolenId = pub.id;
    await insert(b, JOE, stolenId, stored(pub.id), true); // Jane's post shown as Joe's

    const feed = await client(JOE).posts.feed(JANE);
    assert.deepEqual(
      feed.unopenable
        .filter((u) => [forgedId, replayedId, movedId].includes(u.id))
        .map((u) => [u.id, u.code]),
      [
        [forgedId, "PEOPLE_BAD_SIGNATURE"],
        [replayedId, "PEOPLE_BAD_JSON"],
        [movedId, "PEOPLE_DECRYPT_FAILED"],
      ],
    );
    assert(
      feed.posts.some((p) => p.id === pub.id),
      "the genuine post still verifies",
    );
    await client(JANE).posts.deletePost(pub.id);
    assert(!(await client(BOB).posts.feed(JANE)).posts.some((p) => p.id === pub.id), "the author deleted it");
    const joeFeed = await client(ANN).posts.feed(JOE);
    assert.deepEqual(
      joeFeed.unopenable.filter((u) => u.id === stolenId).map((u) => u.code),
      ["PEOPLE_BAD_SIGNATURE"],
    );
  });

  it("keeps group names, ids, keys and post texts out of the client's files in clear", async () => {
    const secrets = ["Weekend hikers", group, "Summit at dawn", "Welcome, Bob", "Bring water"];
    for (const x of Object.values(m)) {
      for (const name of readdirSync(x.dir)) {
        const bytes = readFileSync(join(x.dir, name));
        for (const s of secrets)
          assert(!bytes.includes(Buffer.from(s, "utf8")), `${x.address}/${name} contains "${s}"`);
      }
    }
  });

  it("a group created again with the id it was created with is the same group, with no new key", async () => {
    const id = newMessageId();
    const first = await client(JANE).groups.createGroup("Asked twice", [JOE], { id });
    assert.equal(first.id, id);
    await waitUntil(async () => (await client(JOE).groups.list()).some((g) => g.id === id), "Joe holds it");
    const again = await client(JANE).groups.createGroup("Asked twice", [JOE], { id });
    assert.deepEqual([again.id, again.epoch, again.members, again.undelivered], [id, 0, [JANE, JOE], []]);
    assert.equal((await client(JANE).groups.list()).filter((g) => g.name === "Asked twice").length, 1);
    await assert.rejects(
      client(JOE).groups.createGroup("Not mine", [], { id }),
      (e: { code?: string }) => e.code === "PEOPLE_FORBIDDEN",
      "an id of another owner's group is refused",
    );
    await assert.rejects(
      client(JANE).groups.createGroup("Bad id", [], { id: "not an id" }),
      (e: { code?: string }) => e.code === "PEOPLE_BAD_REQUEST",
    );
  });

  it("a video's thumbnail travels with the post: its own blob, its size measured, pinned with the post", async () => {
    const video = fakeWebm();
    const thumb = tinyPng(64, 36, 7);
    const p = await client(JANE).posts.postPublic({
      text: "the climb",
      attachments: [
        {
          bytes: video,
          mime: "video/webm",
          name: "climb.webm",
          thumbnail: { bytes: thumb, mime: "image/png" },
        },
      ],
    });
    const read = (await client(JOE).posts.feed(JANE)).posts.find((x) => x.id === p.id);
    const att = read?.attachments[0] ?? assert.fail("Joe cannot read the video post");
    assert.equal(att.mime, "video/webm");
    const t = att.thumbnail ?? assert.fail("the thumbnail is missing");
    assert.deepEqual([t.mime, t.width, t.height, t.size], ["image/png", 64, 36, thumb.length]);
    assert.notEqual(t.id, att.id);
    assert.notEqual(t.key, att.key, "the thumbnail has a key of its own");
    assert((await client(JOE).posts.download(att)).equals(video));
    assert((await client(JOE).posts.download(t)).equals(thumb));
    const feed = await a.http.send(
      "GET",
      `${a.url}/_people/v1/accounts/${encodeURIComponent(JANE)}/feed?limit=200`,
    );
    const entries = (
      JSON.parse(feed.body.toString("utf8")) as { posts: { post_id: string; blobs: string[] }[] }
    ).posts;
    assert.deepEqual(
      entries.find((e) => e.post_id === p.id)?.blobs.sort(),
      [att.id, t.id].sort(),
      "both blobs pinned",
    );
    // A thumbnail that is no image, or SVG, refuses the post before anything is uploaded.
    for (const bad of [
      { bytes: Buffer.from("not an image"), mime: "image/png" },
      { bytes: Buffer.from("<svg xmlns='http://www.w3.org/2000/svg'/>"), mime: "image/svg+xml" },
      { bytes: tinyPng(5000, 2), mime: "image/png" },
    ]) {
      await assert.rejects(
        client(JANE).posts.postPublic({
          attachments: [{ bytes: video, mime: "video/webm", thumbnail: bad }],
        }),
        (e: { code?: string }) => e.code === "PEOPLE_BAD_REQUEST",
      );
    }
  });
});
