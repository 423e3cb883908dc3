// The feed rooms' pure parts: a post into the ghost's events, an edit into
// m.replace, the room's name, a Matrix user's reply or reaction into the People
// answer that names the post (with a property test of that parser on arbitrary
// content), the People formats for answers, edits and retractions, and the
// dispatch of post notices to the feeds feature's own flow.
import assert from "node:assert/strict";
import fc from "fast-check";
import { bridgeRegistry } from "../../src/bridge/core/features/index.js";
import {
  NOT_A_REPLY,
  answerContent,
  editContent,
  feedAnswerOf,
  feedRoomName,
  postParts,
} from "../../src/bridge/feeds/feed-content.js";
import { withOwnFlows } from "../../src/bridge/feeds/feeds.js";
import type { IncomingHandler } from "../../src/bridge/core/ports/people-side.js";
import { parseAddress } from "../../src/people/protocol/address.js";
import {
  MAX_TEXT,
  contentSchema,
  type BlobRef,
  type MessageContent,
} from "../../src/people/protocol/messages.js";
import { bodyShapeProblem, postBodySchema, type PostBody } from "../../src/people/protocol/post-body.js";
import { FakePeople, incoming } from "../helpers/portal-fakes.js";

const JOE = parseAddress("joe@other.test");
const POST = "BBBBBBBBBBBBBBBBBBBBBA";
const OTHER_POST = "CCCCCCCCCCCCCCCCCCCCCA";

const blob = (name: string, mime = "image/png"): BlobRef => ({
  server: "other.test",
  id: "A".repeat(43),
  key: "A".repeat(43),
  hash: "A".repeat(43),
  mime,
  size: 10,
  name,
});

describe("feed rooms: posts into Matrix", function () {
  it("names the room from the profile's name, else the address", function () {
    assert.equal(feedRoomName(JOE, "Joe"), "Joe's posts");
    assert.equal(feedRoomName(JOE, "  Joe\n Smith "), "Joe Smith's posts");
    assert.equal(feedRoomName(JOE, undefined), "joe@other.test's posts");
    assert.equal(feedRoomName(JOE, "   "), "joe@other.test's posts");
    assert.ok(feedRoomName(JOE, "x".repeat(10_000)).length <= 210);
  });

  it("makes a text post one text event, and puts the text as the caption of the first attachment", function () {
    assert.deepEqual(postParts({ text: "hello", attachments: [] }), [{ kind: "text", body: "hello" }]);
    const a = blob("a.png");
    const b = blob("b.mp4", "video/mp4");
    assert.deepEqual(postParts({ text: "two files", attachments: [a, b] }), [
      { kind: "media", blob: a, caption: "two files" },
      { kind: "media", blob: b },
    ]);
    assert.deepEqual(postParts({ attachments: [a] }), [{ kind: "media", blob: a }]);
    assert.deepEqual(postParts({ text: "  ", attachments: [] }), []);
  });

  it("edits the post's first event with m.replace", function () {
    const c = editContent("$first", { text: "new text", attachments: [] });
    assert.deepEqual(c, {
      msgtype: "m.text",
      body: "* new text",
      "m.new_content": { msgtype: "m.text", body: "new text" },
      "m.relates_to": { rel_type: "m.replace", event_id: "$first" },
    });
  });
});

describe("feed rooms: answers from Matrix", function () {
  it("takes a reply to an event and strips the quoted fallback", function () {
    const answer = feedAnswerOf("m.room.message", {
      msgtype: "m.text",
      body: "> <@_people_joe=40other.test:localhost> the post\n\nLovely!",
      "m.relates_to": { "m.in_reply_to": { event_id: "$post" } },
    });
    assert.deepEqual(answer, { kind: "reply", target: "$post", body: "Lovely!" });
    assert.deepEqual(answerContent(answer as Extract<typeof answer, { kind: "reply" }>, JOE, POST), {
      type: "text",
      body: "Lovely!",
      in_reply_to_post: { author: JOE, post_id: POST },
    });
  });

  it("takes a reaction, and makes it a post_reaction", function () {
    const answer = feedAnswerOf("m.reaction", {
      "m.relates_to": { rel_type: "m.annotation", event_id: "$post", key: "👍" },
    });
    assert.deepEqual(answer, { kind: "reaction", target: "$post", key: "👍" });
    const content = answerContent(answer as Extract<typeof answer, { kind: "reaction" }>, JOE, POST);
    assert.deepEqual(content, { type: "post_reaction", post: { author: JOE, post_id: POST }, key: "👍" });
    assert.ok(contentSchema.safeParse(content).success);
  });

  it("explains what a feed room takes, and lets edits and other events be", function () {
    assert.deepEqual(feedAnswerOf("m.room.message", { msgtype: "m.text", body: "hi" }), {
      kind: "unanswerable",
      why: NOT_A_REPLY,
    });
    assert.equal(
      feedAnswerOf("m.room.message", {
        msgtype: "m.image",
        body: "cat.png",
        url: "mxc://hs/x",
        "m.relates_to": { "m.in_reply_to": { event_id: "$post" } },
      }).kind,
      "unanswerable",
    );
    assert.equal(
      feedAnswerOf("m.room.message", {
        msgtype: "m.text",
        body: "* fixed",
        "m.new_content": { msgtype: "m.text", body: "fixed" },
        "m.relates_to": { rel_type: "m.replace", event_id: "$mine" },
      }).kind,
      "none",
    );
    assert.equal(feedAnswerOf("m.room.topic", { topic: "x" }).kind, "none");
    assert.equal(feedAnswerOf("m.reaction", { "m.relates_to": { rel_type: "m.reference" } }).kind, "none");
  });

  it("never throws on arbitrary content, and every answer it makes is a valid People message", function () {
    const json = fc.jsonValue({ maxDepth: 4 });
    const content = fc.oneof(
      fc.dictionary(fc.string(), json),
      fc.record({
        msgtype: fc.constantFrom("m.text", "m.notice", "m.emote", "m.image", "x"),
        body: fc.oneof(fc.string(), fc.string({ minLength: MAX_TEXT, maxLength: MAX_TEXT + 10 }), json),
        "m.relates_to": fc.oneof(
          json,
          fc.record({ "m.in_reply_to": fc.record({ event_id: fc.oneof(fc.string(), json) }) }),
          fc.record({ rel_type: fc.string(), event_id: fc.string(), key: fc.oneof(fc.string(), json) }),
        ),
      }),
    );
    fc.assert(
      fc.property(fc.constantFrom("m.room.message", "m.reaction", "m.sticker"), content, (type, c) => {
        const answer = feedAnswerOf(type, c as Record<string, unknown>);
        if (answer.kind === "reply" || answer.kind === "reaction") {
          const message = answerContent(answer, JOE, POST);
          assert.ok(contentSchema.safeParse(message).success, JSON.stringify(message).slice(0, 200));
          if (answer.kind === "reply") assert.ok(answer.body.trim().length > 0);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe("People answers, edits and retractions: the formats", function () {
  it("takes a post reference only with a canonical author and a post id", function () {
    const ok: MessageContent = { type: "text", body: "hi", in_reply_to_post: { author: JOE, post_id: POST } };
    assert.ok(contentSchema.safeParse(ok).success);
    for (const bad of [
      { type: "text", body: "hi", in_reply_to_post: { author: "Joe@Other.test", post_id: POST } },
      { type: "text", body: "hi", in_reply_to_post: { author: JOE, post_id: "short" } },
      { type: "text", body: "hi", in_reply_to_post: { author: JOE, post_id: POST, extra: 1 } },
      { type: "post_reaction", post: { author: JOE, post_id: POST }, key: "" },
      { type: "post_reaction", post: { author: JOE, post_id: POST }, key: "x".repeat(257) },
    ])
      assert.equal(contentSchema.safeParse(bad).success, false, JSON.stringify(bad));
  });

  const body = (o: Partial<PostBody>): PostBody => ({
    v: 1,
    type: "people.post",
    id: POST,
    author: JOE,
    ts: 1,
    ...o,
  });

  it("keeps edits and retractions to their shapes", function () {
    assert.equal(bodyShapeProblem(body({ text: "x" })), undefined);
    assert.equal(bodyShapeProblem(body({ text: "x", replaces: OTHER_POST })), undefined);
    assert.equal(bodyShapeProblem(body({ retracts: OTHER_POST })), undefined);
    assert.match(
      bodyShapeProblem(body({ retracts: OTHER_POST, text: "x" })) ?? "",
      /retraction with content/,
    );
    assert.match(bodyShapeProblem(body({ replaces: OTHER_POST })) ?? "", /without text/);
    assert.match(
      bodyShapeProblem(body({ text: "x", replaces: OTHER_POST, retracts: OTHER_POST })) ?? "",
      /both/,
    );
    assert.match(bodyShapeProblem(body({ text: "x", replaces: POST })) ?? "", /itself/);
    assert.match(bodyShapeProblem(body({ retracts: POST })) ?? "", /itself/);
    assert.match(bodyShapeProblem(body({})) ?? "", /without text/);
    assert.equal(postBodySchema.safeParse(body({ text: "x", replaces: "nope" })).success, false);
  });
});

describe("post notices go to the feeds feature's own flow", function () {
  it("sends a post notice to the feeds handler and everything else on", async function () {
    const seen: string[] = [];
    const feeds: IncomingHandler = async (_a, m) => {
      seen.push(`feeds ${m.content.type}`);
    };
    const next: IncomingHandler = async (_a, m) => {
      seen.push(`next ${m.content.type}`);
    };
    const handle = withOwnFlows(bridgeRegistry(), { feeds }, next);
    const account = await new FakePeople().accountFor("@alice:hs.test");
    const notice: MessageContent = {
      type: "post_notice",
      author: JOE,
      group: OTHER_POST,
      post: POST,
      epoch: 0,
    };
    await handle(account, incoming({ from: JOE, to: [account.address], content: notice }));
    await handle(
      account,
      incoming({ from: JOE, to: [account.address], content: { type: "text", body: "hi" } }),
    );
    assert.deepEqual(seen, ["feeds post_notice", "next text"]);
    // Without a feeds handler, the notice goes on, and the shared flow ignores it.
    const bare = withOwnFlows(bridgeRegistry(), {}, next);
    await bare(account, incoming({ from: JOE, to: [account.address], content: notice }));
    assert.deepEqual(seen.at(-1), "next post_notice");
  });
});
