// Relay mode's pure parts: the `!people` portal command parser, the relay
// formats (config validation and the content they make), a user's power in a
// room, and the "relay" permission level. Property tests (fast-check) for the
// parser and the formatter: whatever the body and the display name, the
// command parser only takes "!people" words, and the relayed text names the
// sender and keeps the message, with the name never raw in the HTML.
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseBridgeConfig } from "../../src/bridge/config.js";
import { escapeHtml } from "../../src/bridge/model/html.js";
import { parsePortalCommand } from "../../src/bridge/model/portal-command.js";
import {
  DEFAULT_RELAY_FORMATS,
  relayConfigSchema,
  relayFormatProblem,
  relaySenderName,
  relayedContent,
} from "../../src/bridge/model/relay-format.js";
import { Permissions } from "../../src/bridge/core/permissions.js";
import { roomPowerOf } from "../../src/bridge/portals/room-power.js";
import type { MatrixUserId } from "../../src/bridge/model/matrix-ids.js";
import type { StateEvent } from "../../src/bridge/core/ports/matrix-side.js";

const RUNS = 300;
const CAROL = { userId: "@carol:elsewhere.org", name: "Carol" };

describe("relay mode: the portal command parser", () => {
  it("reads `!people <name> args`, any case, and nothing else", () => {
    assert.deepEqual(parsePortalCommand("!people set-relay"), { name: "set-relay", args: [] });
    assert.deepEqual(parsePortalCommand("  !PEOPLE Unset-Relay now "), {
      name: "unset-relay",
      args: ["now"],
    });
    assert.deepEqual(parsePortalCommand("!people"), { name: "", args: [] });
    assert.equal(parsePortalCommand("!peoplex set-relay"), undefined);
    assert.equal(parsePortalCommand("hello !people set-relay"), undefined);
    assert.equal(parsePortalCommand("set-relay"), undefined);
  });

  it("never takes a body that does not start with the word !people (property)", () => {
    fc.assert(
      fc.property(fc.string(), (body) => {
        const parsed = parsePortalCommand(body);
        const first = body.trim().split(/\s+/)[0]?.toLowerCase();
        assert.equal(parsed !== undefined, first === "!people");
        if (parsed) assert.equal(parsed.name, parsed.name.toLowerCase());
      }),
      { numRuns: RUNS },
    );
  });
});

describe("relay mode: formats", () => {
  it("config: defaults, partial overrides and refused formats name their key", () => {
    const relay = relayConfigSchema.parse({});
    assert.deepEqual(relay, { enabled: false, admin_only: false, message_formats: DEFAULT_RELAY_FORMATS });
    const custom = relayConfigSchema.parse({
      enabled: true,
      message_formats: { "m.text": "[{user_id}] {message}" },
    });
    assert.equal(custom.message_formats["m.text"], "[{user_id}] {message}");
    assert.equal(custom.message_formats["m.image"], DEFAULT_RELAY_FORMATS["m.image"]);
    assert.match(String(relayFormatProblem("m.text", "{displayname} says")), /\{message\}/);
    assert.match(String(relayFormatProblem("m.text", "{message}")), /name the sender/);
    assert.match(String(relayFormatProblem("m.image", "{displayname}: {message}")), /unknown placeholder/);
    assert.equal(relayFormatProblem("m.file", "{displayname} sent {filename}"), undefined);
    assert.throws(
      () =>
        parseBridgeConfig({
          homeserver: { url: "http://hs", domain: "hs" },
          bridge: { relay: { message_formats: { "m.text": "{message}" } } },
        }),
      /bridge\.relay\.message_formats\.m\.text/,
    );
  });

  it("text: the format around the body and the HTML, a reply's fallback dropped, as m.text", () => {
    const out = relayedContent(
      "m.room.message",
      {
        msgtype: "m.emote",
        body: "> <@joe:hs> hi\n\nwaves",
        format: "org.matrix.custom.html",
        formatted_body: "<mx-reply>quoted</mx-reply><i>waves</i>",
        "m.relates_to": { "m.in_reply_to": { event_id: "$x" } },
      },
      CAROL,
      DEFAULT_RELAY_FORMATS,
    );
    assert.equal(out.kind, "content");
    if (out.kind !== "content") return;
    assert.equal(out.content.msgtype, "m.text");
    assert.equal(out.content.body, "* Carol waves");
    assert.equal(out.content.formatted_body, "* Carol <i>waves</i>");
    assert.deepEqual(out.content["m.relates_to"], { "m.in_reply_to": { event_id: "$x" } });
  });

  it("media: the caption names the sender, with their own caption after it, the file name kept", () => {
    const withCaption = relayedContent(
      "m.room.message",
      { msgtype: "m.image", body: "look", filename: "a.png", url: "mxc://hs/a" },
      CAROL,
      DEFAULT_RELAY_FORMATS,
    );
    assert.deepEqual(withCaption, {
      kind: "content",
      content: {
        msgtype: "m.image",
        body: "Carol sent an image: look",
        filename: "a.png",
        url: "mxc://hs/a",
      },
    });
    const bare = relayedContent(
      "m.room.message",
      { msgtype: "m.file", body: "report.pdf", url: "mxc://hs/b" },
      CAROL,
      DEFAULT_RELAY_FORMATS,
    );
    assert.equal(bare.kind === "content" && bare.content.body, "Carol sent a file");
    assert.equal(bare.kind === "content" && bare.content.filename, "report.pdf");
  });

  it("leaves an empty message empty, for the converter to answer", () => {
    const blank = { msgtype: "m.text", body: "  \n " };
    assert.deepEqual(relayedContent("m.room.message", blank, CAROL, DEFAULT_RELAY_FORMATS), {
      kind: "content",
      content: blank,
    });
  });

  it("does not relay edits, reactions, redactions or other msgtypes", () => {
    const not = (type: string, content: Record<string, unknown>) =>
      assert.deepEqual(relayedContent(type, content, CAROL, DEFAULT_RELAY_FORMATS), { kind: "not_relayed" });
    not("m.reaction", { "m.relates_to": { rel_type: "m.annotation", event_id: "$x", key: "👍" } });
    not("m.room.redaction", { redacts: "$x" });
    not("m.room.message", {
      msgtype: "m.text",
      body: "* fixed",
      "m.new_content": { msgtype: "m.text", body: "fixed" },
      "m.relates_to": { rel_type: "m.replace", event_id: "$x" },
    });
    not("m.room.message", { msgtype: "m.location", body: "here", geo_uri: "geo:1,2" });
  });

  it("names the sender and keeps the message, the name escaped in HTML (property)", () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string().filter((b) => b.trim() !== ""),
        (name, body) => {
          const sender = { userId: "@x:hs", name: relaySenderName("@x:hs", name) };
          const out = relayedContent(
            "m.room.message",
            { msgtype: "m.text", body },
            sender,
            DEFAULT_RELAY_FORMATS,
          );
          assert.equal(out.kind, "content");
          if (out.kind !== "content") return;
          assert.equal(out.content.body, `${sender.name}: ${body}`);
          const escaped = `${escapeHtml(sender.name)}: ${escapeHtml(body).replace(/\n/g, "<br>")}`;
          assert.equal(out.content.formatted_body, escaped);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it("uses the display name only when it is safe to show, else the user id", () => {
    assert.equal(relaySenderName("@c:hs", "Carol"), "Carol");
    assert.equal(relaySenderName("@c:hs", "joe@other.test"), "@c:hs");
    assert.equal(relaySenderName("@c:hs", "@alice:hs"), "@c:hs");
    assert.equal(relaySenderName("@c:hs", "\u202e"), "@c:hs");
    assert.equal(relaySenderName("@c:hs", undefined), "@c:hs");
  });
});

describe("relay mode: who may set it, and who is relayed", () => {
  const ghost = "@_people_joe=40o.test:hs" as MatrixUserId;
  const stateOf = (events: Record<string, StateEvent>) => ({
    roomState: async (_g: MatrixUserId, _r: string, type: string) => events[type],
  });

  it("reads power levels, and room version 12 creators above them", async () => {
    const levels = { content: { users: { "@a:hs": 100, "@m:hs": 50 }, users_default: 0, state_default: 50 } };
    const v10 = stateOf({
      "m.room.create": { sender: "@c:hs", content: { room_version: "10" } },
      "m.room.power_levels": levels,
    });
    assert.deepEqual(await roomPowerOf(v10, ghost, "!r", "@a:hs"), { user: 100, settings: 50 });
    assert.deepEqual(await roomPowerOf(v10, ghost, "!r", "@nobody:hs"), { user: 0, settings: 50 });
    assert.deepEqual(await roomPowerOf(v10, ghost, "!r", "@c:hs"), { user: 0, settings: 50 });
    const v12 = stateOf({
      "m.room.create": { sender: "@c:hs", content: { room_version: "12" } },
      "m.room.power_levels": levels,
    });
    assert.ok((await roomPowerOf(v12, ghost, "!r", "@c:hs")).user > 100);
  });

  it('"relay" entries get no access, but may be relayed; unlisted users may not', () => {
    const p = new Permissions({ "@alice:hs": "user", "other.org": "relay", "@boss:hs": "admin" });
    assert.equal(p.levelOf("@carol:other.org"), "none");
    assert.ok(p.mayBeRelayed("@carol:other.org"));
    assert.ok(p.mayBeRelayed("@alice:hs"));
    assert.ok(!p.allows("@carol:other.org", "user"));
    assert.ok(!p.mayBeRelayed("@dave:hs"));
    assert.equal(p.levelOf("@boss:hs"), "admin");
  });
});
