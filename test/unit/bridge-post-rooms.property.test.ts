// The post rooms' converter (feeds/post-room-content.ts): what the owner's
// Matrix event asks for, with no IO. Examples of each kind, and a property:
// any event, however malformed, gives one of the kinds and never throws.
import assert from "node:assert/strict";
import fc from "fast-check";
import { NOT_POSTABLE, groupDetailsOf, postRoomActionOf } from "../../src/bridge/feeds/post-room-content.js";

const KINDS = new Set(["text", "media", "edit", "retract", "unpostable", "none"]);

describe("post rooms: the owner's events as posts", function () {
  it("a text is a post, with its reply fallback and outer spaces left out", function () {
    assert.deepEqual(
      postRoomActionOf({ type: "m.room.message", content: { msgtype: "m.text", body: "  hi " } }),
      {
        kind: "text",
        text: "hi",
      },
    );
    const reply = { msgtype: "m.text", body: "> <@bob:hs> earlier\n\nanswer" };
    assert.deepEqual(postRoomActionOf({ type: "m.room.message", content: reply }), {
      kind: "text",
      text: "answer",
    });
  });

  it("a whitespace-only message is told, not posted; a location is told what becomes a post", function () {
    const blank = postRoomActionOf({ type: "m.room.message", content: { msgtype: "m.text", body: " \n " } });
    assert.equal(blank.kind, "unpostable");
    const location = postRoomActionOf({ type: "m.room.message", content: { msgtype: "m.location" } });
    assert.deepEqual(location, { kind: "unpostable", why: NOT_POSTABLE });
  });

  it("an image is a media post with its file to fetch, a caption as its text", function () {
    const a = postRoomActionOf({
      type: "m.room.message",
      content: {
        msgtype: "m.image",
        body: "map.png",
        url: "mxc://hs/abc",
        info: { mimetype: "image/png", size: 10 },
      },
    });
    assert.equal(a.kind, "media");
    if (a.kind !== "media") return;
    assert.equal(a.media.mxc, "mxc://hs/abc");
    assert.equal(a.media.mime, "image/png");
  });

  it("an edit names its target and the new text; a redaction its target", function () {
    const edit = postRoomActionOf({
      type: "m.room.message",
      content: {
        msgtype: "m.text",
        body: "* new",
        "m.new_content": { msgtype: "m.text", body: "new" },
        "m.relates_to": { rel_type: "m.replace", event_id: "$orig" },
      },
    });
    assert.deepEqual(edit, { kind: "edit", target: "$orig", text: "new" });
    assert.deepEqual(postRoomActionOf({ type: "m.room.redaction", content: {}, redacts: "$orig" }), {
      kind: "retract",
      target: "$orig",
    });
    assert.deepEqual(postRoomActionOf({ type: "m.room.redaction", content: { redacts: "$v11" } }), {
      kind: "retract",
      target: "$v11",
    });
  });

  it("reactions and other events are nothing for a post", function () {
    const r = { "m.relates_to": { rel_type: "m.annotation", event_id: "$x", key: "👍" } };
    assert.deepEqual(postRoomActionOf({ type: "m.reaction", content: r }), { kind: "none" });
    assert.deepEqual(postRoomActionOf({ type: "m.room.topic", content: { topic: "t" } }), { kind: "none" });
  });

  it("any event, however malformed, gives one kind and never throws", function () {
    const type = fc.constantFrom("m.room.message", "m.sticker", "m.room.redaction", "m.reaction", "x.y");
    fc.assert(
      fc.property(type, fc.anything(), fc.anything(), (t, content, redacts) => {
        const a = postRoomActionOf({ type: t, content, redacts });
        assert.ok(KINDS.has(a.kind));
        if (a.kind === "text" || a.kind === "edit") assert.ok(a.text.trim().length > 0);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("post group rooms: the topic and picture as the group's details", function () {
  it("a topic sets it (trimmed), a removed topic clears it; a picture needs an mxc URI and a raster type", function () {
    assert.deepEqual(groupDetailsOf("m.room.topic", { topic: " Dawn walks " }), {
      kind: "topic",
      topic: "Dawn walks",
    });
    assert.deepEqual(groupDetailsOf("m.room.topic", {}), { kind: "topic", topic: "" });
    assert.deepEqual(
      groupDetailsOf("m.room.avatar", { url: "mxc://hs/abc", info: { mimetype: "image/jpeg" } }),
      {
        kind: "avatar",
        mxc: "mxc://hs/abc",
        mime: "image/jpeg",
      },
    );
    assert.deepEqual(groupDetailsOf("m.room.avatar", {}), { kind: "no-avatar" });
    assert.equal(groupDetailsOf("m.room.avatar", { url: "https://evil/x.png" }), undefined);
    assert.equal(
      groupDetailsOf("m.room.avatar", { url: "mxc://hs/a", info: { mimetype: "image/svg+xml" } }),
      undefined,
    );
    assert.equal(groupDetailsOf("m.room.name", { name: "x" }), undefined);
  });

  it("property: any content gives a known change or none, never throws; a topic keeps the limit", function () {
    fc.assert(
      fc.property(
        fc.constantFrom("m.room.topic", "m.room.avatar", "m.room.name"),
        fc.dictionary(fc.constantFrom("topic", "url", "info", "x"), fc.anything()),
        (type, content) => {
          const c = groupDetailsOf(type, content);
          if (c === undefined) return;
          assert.ok(["topic", "avatar", "no-avatar"].includes(c.kind));
          if (c.kind === "topic") assert.ok(c.topic.length <= 1024);
          if (c.kind === "avatar") assert.match(c.mxc, /^mxc:\/\//);
        },
      ),
      { numRuns: 500 },
    );
  });
});
