// Edits and retractions of posts, and answers to a post, with real clients
// against two real People servers (a.test, b.test) over TLS: Jane edits and
// withdraws public and group posts, Joe reads them back as such, and Joe's
// answers to Jane's post arrive naming it.
import assert from "node:assert/strict";
import { PeopleClient } from "../../src/people/client/people-client.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { clientOptions, networkOf, removeTempDirs, tempDir, waitUntil } from "../helpers/client-fixtures.js";

const JANE = "jane@a.test";
const JOE = "joe@b.test";

describe("People client: editing and withdrawing posts, answering them", function () {
  this.timeout(60_000);
  let a: TestServer;
  let b: TestServer;
  const clients: Record<string, PeopleClient> = {};

  before(async function () {
    a = await startTestServer("a.test");
    b = await startTestServer("b.test");
    const network = networkOf([a, b]);
    for (const address of [JANE, JOE]) {
      const client = await PeopleClient.create({
        ...clientOptions(network, tempDir(address.split("@")[0]!)),
        address,
      });
      await client.start();
      clients[address] = client;
    }
  });

  after(async () => {
    for (const c of Object.values(clients)) await c.close().catch(() => undefined);
    await a?.stop();
    await b?.stop();
    removeTempDirs();
  });

  it("reads an edit and a retraction back as the author made them", async function () {
    const jane = clients[JANE]!;
    const first = await jane.posts.postPublic({ text: "first" });
    const edit = await jane.posts.postPublic({ text: "first, fixed", replaces: first.id });
    const group = (await jane.groups.createGroup("Pals", [JOE])).id;
    await waitUntil(
      async () => (await clients[JOE]!.groups.list()).some((g) => g.id === group),
      "Joe to hold the key",
    );
    const inGroup = await jane.posts.post(group, { text: "for pals" });
    const retraction = await jane.posts.post(group, { retracts: inGroup.id });
    await jane.posts.deletePost(inGroup.id);

    const feed = await clients[JOE]!.posts.feed(JANE);
    assert.deepEqual(feed.unopenable, []);
    const byId = new Map(feed.posts.map((p) => [p.id, p]));
    assert.equal(byId.get(edit.id)?.replaces, first.id);
    assert.equal(byId.get(edit.id)?.text, "first, fixed");
    assert.equal(byId.get(retraction.id)?.retracts, inGroup.id);
    assert.equal(byId.get(retraction.id)?.text, undefined);
    assert.ok(!byId.has(inGroup.id), "the withdrawn post is deleted from the feed");
  });

  it("refuses an edit and a retraction in one, a retraction with text, and a post without content", async function () {
    const jane = clients[JANE]!;
    const target = (await jane.posts.postPublic({ text: "target" })).id;
    await assert.rejects(jane.posts.postPublic({ text: "x", replaces: target, retracts: target }), /both/);
    await assert.rejects(jane.posts.postPublic({ text: "x", retracts: target }), /retraction with content/);
    await assert.rejects(jane.posts.postPublic({ replaces: target }), /empty post/);
    await assert.rejects(
      jane.posts.postPublic({ text: "x", replaces: "not-an-id" }),
      /PEOPLE_BAD_REQUEST|id/i,
    );
  });

  it("delivers a reply and a reaction that name the post", async function () {
    const post = await clients[JANE]!.posts.postPublic({ text: "hello" });
    const ref = { author: JANE, post_id: post.id };
    await clients[JOE]!.send([JANE], { type: "text", body: "hi back", in_reply_to_post: ref });
    await clients[JOE]!.send([JANE], { type: "post_reaction", post: ref, key: "🎉" });
    const janeInbox = async () => (await clients[JANE]!.inbox()).filter((m) => m.from === JOE);
    await waitUntil(async () => (await janeInbox()).length >= 2, "Jane to get both answers", 30_000);
    const got = (await janeInbox()).map((m) => m.content);
    assert.deepEqual(got, [
      { type: "text", body: "hi back", in_reply_to_post: ref },
      { type: "post_reaction", post: ref, key: "🎉" },
    ]);
  });
});
