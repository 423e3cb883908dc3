import assert from "node:assert/strict";
import fc from "fast-check";
import type { MessageId } from "../../src/people/protocol/ids";
import { MAX_TEXT, contentSchema, type MessageContent } from "../../src/people/protocol/messages";
import { TRUNCATION_MARKER } from "../../src/bridge/model/limits";
import type { MatrixEventId, MatrixUserId, MxcUri } from "../../src/bridge/model/matrix-ids";
import type {
  EncryptedFile,
  MatrixLocationContent,
  MatrixMediaContent,
  MatrixTextContent,
} from "../../src/bridge/model/matrix-content";
import {
  TYPING_TIMEOUT_MS,
  attachmentToPeople,
  matrixEventToPeople,
  matrixReceiptToPeople,
  matrixTypingToPeople,
  type AttachmentPlaceholder,
  type BlobUpload,
  type MatrixEventInput,
  type ToPeople,
} from "../../src/bridge/model/matrix-to-people";
import {
  attachmentToMatrix,
  peopleToMatrix,
  type AttachmentContent,
  type ToMatrix,
} from "../../src/bridge/model/people-to-matrix";
import { unbridgeableText, type UnbridgeableReason } from "../../src/bridge/model/unbridgeable";

// Three bridged messages ($e0..$e2 ⇄ id0..id2); anything else is unknown.
const ids = [0, 1, 2].map((i) => `${"A".repeat(20)}${i}A` as MessageId);
const events = [0, 1, 2].map((i) => `$e${i}` as MatrixEventId);
const [ID0, ID1] = ids as [MessageId, MessageId];
const [EV0, EV1] = events as [MatrixEventId, MatrixEventId];
const UNKNOWN_ID = `${"B".repeat(21)}A` as MessageId;
const toPeopleCtx = { peopleIdOf: (e: MatrixEventId) => ids[events.indexOf(e)] };
const toMatrixCtx = { matrixIdOf: (m: MessageId) => events[ids.indexOf(m)] };
const ME = "@me:hs.example" as MatrixUserId;
const HTML = "org.matrix.custom.html";
const key = (c: string) => c.repeat(42) + "A";
const UPLOAD: BlobUpload = {
  server: "people.example",
  id: "I".repeat(43),
  key: key("K"),
  hash: key("H"),
  size: 1234,
};
const THUMB_UPLOAD: BlobUpload = { ...UPLOAD, id: "T".repeat(43), size: 99 };
const ENCRYPTED: EncryptedFile = {
  url: "mxc://hs.example/enc" as MxcUri,
  key: { kty: "oct", key_ops: ["encrypt", "decrypt"], alg: "A256CTR", k: "k".repeat(43), ext: true },
  iv: "i".repeat(22),
  hashes: { sha256: "h".repeat(43) },
  v: "v2",
};

const msg = (content: unknown): MatrixEventInput => ({ type: "m.room.message", content });
const toPeople = (event: MatrixEventInput) => matrixEventToPeople(event, toPeopleCtx);

function people(result: ToPeople): MessageContent {
  assert.equal(result.kind, "content", JSON.stringify(result));
  return (result as { content: MessageContent }).content;
}
function placeholder(result: ToPeople): AttachmentPlaceholder {
  assert.equal(result.kind, "attachment", JSON.stringify(result));
  return result as AttachmentPlaceholder;
}
function unbridged(result: ToPeople | ToMatrix, reason: UnbridgeableReason): void {
  assert.equal(result.kind, "unbridgeable", JSON.stringify(result));
  assert.equal((result as { reason: string }).reason, reason);
}
function matrixMessage(result: ToMatrix): MatrixTextContent | MatrixMediaContent | MatrixLocationContent {
  assert.ok(result.kind === "event" && result.type === "m.room.message", JSON.stringify(result));
  return result.content;
}
const matrixText = (result: ToMatrix) => matrixMessage(result) as MatrixTextContent;

describe("bridge converters", () => {
  describe("Matrix → People", () => {
    const texts: Array<[string, unknown, MessageContent]> = [
      ["m.text", { msgtype: "m.text", body: "hi" }, { type: "text", body: "hi" }],
      [
        "m.text with HTML",
        { msgtype: "m.text", body: "hi *you*", format: HTML, formatted_body: "hi <em>you</em>" },
        { type: "text", body: "hi *you*", html: "hi <em>you</em>" },
      ],
      ["m.notice", { msgtype: "m.notice", body: "beep" }, { type: "text", body: "beep" }],
      [
        "m.emote, as text with a '* ' prefix",
        { msgtype: "m.emote", body: "waves", format: HTML, formatted_body: "<em>waves</em>" },
        { type: "text", body: "* waves", html: "* <em>waves</em>" },
      ],
      [
        "a format other than HTML is ignored",
        { msgtype: "m.text", body: "b", format: "text/markdown", formatted_body: "**b**" },
        { type: "text", body: "b" },
      ],
      [
        "HTML only: the body is derived",
        { msgtype: "m.text", body: "", format: HTML, formatted_body: "<p>one</p><p>two &amp; <b>3</b></p>" },
        { type: "text", body: "one\ntwo & 3", html: "<p>one</p><p>two &amp; <b>3</b></p>" },
      ],
      [
        "hostile HTML is sanitized",
        {
          msgtype: "m.text",
          body: "x",
          format: HTML,
          formatted_body: '<script>x</script><a href="javascript:y">l</a>',
        },
        { type: "text", body: "x", html: "l" },
      ],
      [
        "a reply: fallbacks stripped, target mapped",
        {
          msgtype: "m.text",
          body: "> <@alice:hs.example> original\n> more\n\nmy reply",
          format: HTML,
          formatted_body: "<mx-reply><blockquote>original</blockquote></mx-reply>my <b>reply</b>",
          "m.relates_to": { "m.in_reply_to": { event_id: EV0 } },
        },
        { type: "text", body: "my reply", html: "my <b>reply</b>", reply_to: ID0 },
      ],
      [
        "a reply to an unknown event degrades to a plain message",
        {
          msgtype: "m.text",
          body: "> <@alice:hs.example> original\n\nmy reply",
          "m.relates_to": { "m.in_reply_to": { event_id: "$unknown" } },
        },
        { type: "text", body: "my reply" },
      ],
      [
        "a reply without fallback keeps its own quote",
        { msgtype: "m.text", body: "> quote\n\nok", "m.relates_to": { "m.in_reply_to": { event_id: EV1 } } },
        { type: "text", body: "> quote\n\nok", reply_to: ID1 },
      ],
      [
        "a thread message replies to the thread root",
        {
          msgtype: "m.text",
          body: "in thread",
          "m.relates_to": {
            rel_type: "m.thread",
            event_id: EV0,
            is_falling_back: true,
            "m.in_reply_to": { event_id: EV1 },
          },
        },
        { type: "text", body: "in thread", reply_to: ID0 },
      ],
      [
        "an edit carries m.new_content",
        {
          msgtype: "m.text",
          body: "* new",
          "m.new_content": { msgtype: "m.text", body: "new", format: HTML, formatted_body: "<b>new</b>" },
          "m.relates_to": { rel_type: "m.replace", event_id: EV0 },
        },
        { type: "edit", target: ID0, body: "new", html: "<b>new</b>" },
      ],
      [
        "an edit to an emote",
        {
          msgtype: "m.emote",
          body: "* dances",
          "m.new_content": { msgtype: "m.emote", body: "dances" },
          "m.relates_to": { rel_type: "m.replace", event_id: EV1 },
        },
        { type: "edit", target: ID1, body: "* dances" },
      ],
    ];
    for (const [name, content, expected] of texts) {
      it(name, () => assert.deepEqual(people(toPeople(msg(content))), expected));
    }

    it("reactions, redactions (room v1-10 and v11)", () => {
      const rel = { rel_type: "m.annotation", event_id: EV0, key: "👍" };
      assert.deepEqual(people(toPeople({ type: "m.reaction", content: { "m.relates_to": rel } })), {
        type: "reaction",
        target: ID0,
        key: "👍",
      });
      assert.deepEqual(
        people(toPeople({ type: "m.room.redaction", redacts: EV1, content: { reason: "oops" } })),
        {
          type: "redaction",
          target: ID1,
          reason: "oops",
        },
      );
      assert.deepEqual(people(toPeople({ type: "m.room.redaction", content: { redacts: EV0 } })), {
        type: "redaction",
        target: ID0,
      });
      const long = people(
        toPeople({ type: "m.room.redaction", redacts: EV0, content: { reason: "r".repeat(999) } }),
      );
      assert.ok(
        long.type === "redaction" && long.reason!.length === 256 && long.reason!.endsWith(TRUNCATION_MARKER),
      );
    });

    it("read receipts: only this user's public m.read, only for bridged events", () => {
      const content = {
        [EV0]: { "m.read": { [ME]: { ts: 1 }, "@other:hs.example": { ts: 2 } } },
        [EV1]: { "m.read.private": { [ME]: { ts: 3 } } },
        $unknown: { "m.read": { [ME]: { ts: 4 } } },
        "not an event id": { "m.read": { [ME]: {} } },
      };
      assert.deepEqual(people(matrixReceiptToPeople(content, ME, toPeopleCtx)), {
        type: "receipt",
        targets: [ID0],
      });
      unbridged(
        matrixReceiptToPeople({ $unknown: { "m.read": { [ME]: {} } } }, ME, toPeopleCtx),
        "unknown_target",
      );
      unbridged(
        matrixReceiptToPeople({ [EV1]: { "m.read.private": { [ME]: {} } } }, ME, toPeopleCtx),
        "nothing_to_bridge",
      );
    });

    it("typing", () => {
      assert.deepEqual(people(matrixTypingToPeople({ user_ids: [ME, "@x:hs.example"] }, ME)), {
        type: "typing",
        active: true,
        timeout_ms: TYPING_TIMEOUT_MS,
      });
      assert.deepEqual(people(matrixTypingToPeople({ user_ids: [] }, ME)), {
        type: "typing",
        active: false,
        timeout_ms: 0,
      });
    });

    describe("media", () => {
      const info = {
        mimetype: "image/png",
        size: 1234,
        w: 640,
        h: 480,
        thumbnail_url: "mxc://hs.example/t",
        thumbnail_info: { mimetype: "image/jpeg", w: 64, h: 48, size: 99 },
      };
      const cases: Array<[string, unknown, Omit<AttachmentPlaceholder, "kind">]> = [
        [
          "m.image with info and a thumbnail",
          { msgtype: "m.image", body: "cat.png", url: "mxc://hs.example/a", info },
          {
            mxc: "mxc://hs.example/a" as MxcUri,
            mime: "image/png",
            size: 1234,
            width: 640,
            height: 480,
            name: "cat.png",
            thumbnail: {
              mxc: "mxc://hs.example/t" as MxcUri,
              mime: "image/jpeg",
              size: 99,
              width: 64,
              height: 48,
            },
          },
        ],
        [
          "m.file with a caption (filename differs from body) and a reply",
          {
            msgtype: "m.file",
            body: "see this",
            filename: "report.pdf",
            url: "mxc://hs.example/f",
            info: { mimetype: "application/pdf; charset=binary" },
            "m.relates_to": { "m.in_reply_to": { event_id: EV0 } },
          },
          {
            mxc: "mxc://hs.example/f" as MxcUri,
            mime: "application/pdf",
            name: "report.pdf",
            caption: "see this",
            reply_to: ID0,
          },
        ],
        [
          "m.audio with duration; bad advisory info is dropped",
          {
            msgtype: "m.audio",
            body: "a.ogg",
            url: "mxc://hs.example/a",
            info: { mimetype: "audio/ogg", duration: 5000, size: "big", w: -1 },
          },
          { mxc: "mxc://hs.example/a" as MxcUri, mime: "audio/ogg", duration_ms: 5000, name: "a.ogg" },
        ],
        [
          "m.video in an encrypted room (file instead of url)",
          {
            msgtype: "m.video",
            body: "v.mp4",
            file: ENCRYPTED,
            info: { mimetype: "video/mp4", w: 1920, h: 1080, duration: 10 },
          },
          {
            mxc: ENCRYPTED.url,
            encrypted: ENCRYPTED,
            mime: "video/mp4",
            width: 1920,
            height: 1080,
            duration_ms: 10,
            name: "v.mp4",
          },
        ],
        [
          "no mimetype: application/octet-stream",
          { msgtype: "m.file", body: "x.bin", url: "mxc://hs.example/x" },
          { mxc: "mxc://hs.example/x" as MxcUri, mime: "application/octet-stream", name: "x.bin" },
        ],
      ];
      for (const [name, content, expected] of cases) {
        it(name, () =>
          assert.deepEqual(placeholder(toPeople(msg(content))), { kind: "attachment", ...expected }),
        );
      }

      it("m.sticker is an image of kind sticker with its description as caption", () => {
        const p = placeholder(
          toPeople({
            type: "m.sticker",
            content: { body: "happy cat", url: "mxc://hs.example/s", info: { w: 100, h: 100 } },
          }),
        );
        assert.deepEqual(p, {
          kind: "attachment",
          mxc: "mxc://hs.example/s",
          mime: "image/png",
          width: 100,
          height: 100,
          caption: "happy cat",
          shownAs: "sticker",
        });
      });

      it("becomes a People attachment once uploaded; the result passes the protocol schema", () => {
        const p = placeholder(
          toPeople(msg({ msgtype: "m.image", body: "cat.png", url: "mxc://hs.example/a", info })),
        );
        const content = people(attachmentToPeople(p, UPLOAD, THUMB_UPLOAD));
        assert.deepEqual(content, {
          type: "attachment",
          blob: {
            server: "people.example",
            id: UPLOAD.id,
            key: UPLOAD.key,
            hash: UPLOAD.hash,
            mime: "image/png",
            size: 1234,
            width: 640,
            height: 480,
            name: "cat.png",
          },
          thumbnail: {
            server: "people.example",
            id: THUMB_UPLOAD.id,
            key: UPLOAD.key,
            hash: UPLOAD.hash,
            mime: "image/jpeg",
            size: 99,
            width: 64,
            height: 48,
          },
        });
        unbridged(attachmentToPeople(p, { ...UPLOAD, key: "not a key" }), "invalid_content");
      });
    });

    describe("refusals are values", () => {
      const cases: Array<[string, MatrixEventInput, UnbridgeableReason]> = [
        ["an unknown msgtype", msg({ msgtype: "org.example.odd", body: "here" }), "unsupported_type"],
        ["a location without a geo URI", msg({ msgtype: "m.location", body: "here" }), "invalid_content"],
        ["an unknown event type", { type: "m.room.topic", content: { topic: "t" } }, "unsupported_type"],
        ["a body that is not a string", msg({ msgtype: "m.text", body: 42 }), "invalid_content"],
        ["a redacted message (empty content)", msg({}), "invalid_content"],
        ["an empty message", msg({ msgtype: "m.text", body: "  " }), "nothing_to_bridge"],
        [
          "a bad reply event id",
          msg({ msgtype: "m.text", body: "x", "m.relates_to": { "m.in_reply_to": { event_id: "nope" } } }),
          "invalid_content",
        ],
        [
          "an edit of an unknown event",
          msg({
            msgtype: "m.text",
            body: "* x",
            "m.new_content": { msgtype: "m.text", body: "x" },
            "m.relates_to": { rel_type: "m.replace", event_id: "$unknown" },
          }),
          "unknown_target",
        ],
        [
          "an edit without m.new_content",
          msg({ msgtype: "m.text", body: "* x", "m.relates_to": { rel_type: "m.replace", event_id: EV0 } }),
          "invalid_content",
        ],
        [
          "an edit of media",
          msg({
            msgtype: "m.image",
            body: "* x",
            "m.new_content": { msgtype: "m.image", body: "x", url: "mxc://h/a" },
            "m.relates_to": { rel_type: "m.replace", event_id: EV0 },
          }),
          "unsupported_type",
        ],
        [
          "a reaction to an unknown event",
          {
            type: "m.reaction",
            content: { "m.relates_to": { rel_type: "m.annotation", event_id: "$unknown", key: "x" } },
          },
          "unknown_target",
        ],
        [
          "a reaction key over 256 characters",
          {
            type: "m.reaction",
            content: { "m.relates_to": { rel_type: "m.annotation", event_id: EV0, key: "k".repeat(257) } },
          },
          "too_large",
        ],
        [
          "a redaction of an unknown event",
          { type: "m.room.redaction", redacts: "$unknown", content: {} },
          "unknown_target",
        ],
        ["a redaction without redacts", { type: "m.room.redaction", content: {} }, "invalid_content"],
        [
          "media with both url and file",
          msg({ msgtype: "m.file", body: "f", url: "mxc://h/a", file: ENCRYPTED }),
          "invalid_content",
        ],
        [
          "media with an http url",
          msg({ msgtype: "m.image", body: "f", url: "https://h/a" }),
          "invalid_content",
        ],
        [
          "an encrypted file with a bad key",
          msg({
            msgtype: "m.file",
            body: "f",
            file: { ...ENCRYPTED, key: { ...ENCRYPTED.key, alg: "A128CBC" } },
          }),
          "invalid_content",
        ],
      ];
      for (const [name, event, reason] of cases) {
        it(name, () => {
          const result = toPeople(event);
          unbridged(result, reason);
          assert.ok(result.kind === "unbridgeable" && unbridgeableText(result).length > 0);
        });
      }
    });
  });

  describe("People → Matrix", () => {
    const cases: Array<[string, MessageContent, ToMatrix]> = [
      [
        "text",
        { type: "text", body: "hi" },
        { kind: "event", type: "m.room.message", content: { msgtype: "m.text", body: "hi" } },
      ],
      [
        "text with HTML and a reply",
        { type: "text", body: "hi", html: "<b>hi</b><script>x</script>", reply_to: ID0 },
        {
          kind: "event",
          type: "m.room.message",
          content: {
            msgtype: "m.text",
            body: "hi",
            format: HTML,
            formatted_body: "<b>hi</b>",
            "m.relates_to": { "m.in_reply_to": { event_id: EV0 } },
          },
        },
      ],
      [
        "a reply to an unknown message is a plain message; an empty body is derived from HTML",
        { type: "text", body: "", html: "<ul><li>a</li></ul>", reply_to: UNKNOWN_ID },
        {
          kind: "event",
          type: "m.room.message",
          content: { msgtype: "m.text", body: "- a", format: HTML, formatted_body: "<ul><li>a</li></ul>" },
        },
      ],
      [
        "edit",
        { type: "edit", target: ID1, body: "new", html: "<i>new</i>" },
        {
          kind: "event",
          type: "m.room.message",
          content: {
            msgtype: "m.text",
            body: "* new",
            format: HTML,
            formatted_body: "* <i>new</i>",
            "m.new_content": { msgtype: "m.text", body: "new", format: HTML, formatted_body: "<i>new</i>" },
            "m.relates_to": { rel_type: "m.replace", event_id: EV1 },
          },
        },
      ],
      [
        "reaction",
        { type: "reaction", target: ID0, key: "❤️" },
        {
          kind: "event",
          type: "m.reaction",
          content: { "m.relates_to": { rel_type: "m.annotation", event_id: EV0, key: "❤️" } },
        },
      ],
      [
        "redaction",
        { type: "redaction", target: ID0, reason: "spam" },
        { kind: "redaction", redacts: EV0, reason: "spam" },
      ],
      [
        "receipt (unknown targets dropped)",
        { type: "receipt", targets: [ID0, UNKNOWN_ID, ID1] },
        { kind: "receipt", eventIds: [EV0, EV1] },
      ],
      [
        "typing",
        { type: "typing", active: true, timeout_ms: 20_000 },
        { kind: "typing", active: true, timeoutMs: 20_000 },
      ],
      [
        "typing stopped",
        { type: "typing", active: false, timeout_ms: 5 },
        { kind: "typing", active: false, timeoutMs: 0 },
      ],
    ];
    for (const [name, content, expected] of cases) {
      it(name, () => assert.deepEqual(peopleToMatrix(content, toMatrixCtx), expected));
    }

    it("refuses unknown targets, non-room types and invalid content as values", () => {
      unbridged(
        peopleToMatrix({ type: "edit", target: UNKNOWN_ID, body: "x" }, toMatrixCtx),
        "unknown_target",
      );
      unbridged(
        peopleToMatrix({ type: "reaction", target: UNKNOWN_ID, key: "x" }, toMatrixCtx),
        "unknown_target",
      );
      unbridged(peopleToMatrix({ type: "redaction", target: UNKNOWN_ID }, toMatrixCtx), "unknown_target");
      unbridged(peopleToMatrix({ type: "receipt", targets: [UNKNOWN_ID] }, toMatrixCtx), "unknown_target");
      unbridged(
        peopleToMatrix({ type: "rt_hangup", session: ID0, reason: "busy" }, toMatrixCtx),
        "unsupported_type",
      );
      unbridged(peopleToMatrix({ type: "text", body: " " }, toMatrixCtx), "nothing_to_bridge");
      unbridged(
        peopleToMatrix({ type: "text", body: 5 } as unknown as MessageContent, toMatrixCtx),
        "invalid_content",
      );
    });

    describe("attachments", () => {
      const blob = {
        server: "people.example",
        id: UPLOAD.id,
        key: UPLOAD.key,
        hash: UPLOAD.hash,
        size: 1234,
      };
      const attachment = (mime: string, extra: Partial<AttachmentContent> = {}): AttachmentContent => ({
        type: "attachment",
        blob: { ...blob, mime, name: "file.bin", width: 10, height: 20, duration_ms: 3000 },
        ...extra,
      });
      const url = { url: "mxc://bridge.example/m" as MxcUri };

      it("first asks for a transfer of the blob and thumbnail", () => {
        const content = attachment("image/png", { thumbnail: { ...blob, mime: "image/jpeg" } });
        assert.deepEqual(peopleToMatrix(content, toMatrixCtx), {
          kind: "transfer",
          blob: content.blob,
          thumbnail: content.thumbnail,
        });
      });

      const msgtypes: Array<[string, string, object]> = [
        ["image/png", "m.image", { w: 10, h: 20 }],
        ["video/mp4", "m.video", { w: 10, h: 20, duration: 3000 }],
        ["audio/ogg", "m.audio", { duration: 3000 }],
        ["application/pdf", "m.file", {}],
        ["image/svg+xml", "m.file", {}],
      ];
      for (const [mime, msgtype, dims] of msgtypes) {
        it(`${mime} → ${msgtype}`, () => {
          const content = matrixMessage(attachmentToMatrix(attachment(mime), { media: url }, toMatrixCtx));
          assert.deepEqual(content, {
            msgtype,
            body: "file.bin",
            filename: "file.bin",
            url: url.url,
            info: { mimetype: mime, size: 1234, ...dims },
          });
        });
      }

      it("caption, reply, thumbnail and encrypted media", () => {
        const content = attachment("image/png", {
          caption: "look",
          reply_to: ID1,
          thumbnail: { ...blob, mime: "image/jpeg", size: 9, width: 1, height: 2 },
        });
        const out = matrixMessage(
          attachmentToMatrix(content, { media: { file: ENCRYPTED }, thumbnail: url }, toMatrixCtx),
        );
        assert.deepEqual(out, {
          msgtype: "m.image",
          body: "look",
          filename: "file.bin",
          file: ENCRYPTED,
          info: {
            mimetype: "image/png",
            size: 1234,
            w: 10,
            h: 20,
            thumbnail_url: url.url,
            thumbnail_info: { mimetype: "image/jpeg", size: 9, w: 1, h: 2 },
          },
          "m.relates_to": { "m.in_reply_to": { event_id: EV1 } },
        });
      });
    });

    it("keeps an event under Matrix's size limit, truncating with a marker", () => {
      const body = "é".repeat(MAX_TEXT);
      const html = "<b>é</b>".repeat(MAX_TEXT / 4);
      for (const content of [
        { type: "text", body, html },
        { type: "edit", target: ID0, body, html },
      ] as MessageContent[]) {
        const out = matrixText(peopleToMatrix(content, toMatrixCtx));
        assert.ok(
          Buffer.byteLength(JSON.stringify(out)) <= 60_000,
          `${Buffer.byteLength(JSON.stringify(out))}`,
        );
        assert.ok(out.body.endsWith(TRUNCATION_MARKER));
        assert.ok(out.formatted_body === undefined || out.formatted_body.endsWith(TRUNCATION_MARKER));
      }
    });
  });

  describe("round trips Matrix → People → Matrix", () => {
    const there = (event: MatrixEventInput) => people(toPeople(event));
    const back = (content: MessageContent) => peopleToMatrix(content, toMatrixCtx);

    it("keeps body, HTML and reply target", () => {
      const content = {
        msgtype: "m.text",
        body: "see *this*",
        format: HTML,
        formatted_body: 'see <em>this</em> <a href="https://e.example">link</a>',
        "m.relates_to": { "m.in_reply_to": { event_id: EV1 } },
      };
      assert.deepEqual(matrixMessage(back(there(msg(content)))), content);
    });

    it("keeps an edit's target, body and HTML", () => {
      const out = matrixText(
        back(
          there(
            msg({
              msgtype: "m.text",
              body: "* v2",
              "m.new_content": { msgtype: "m.text", body: "v2", format: HTML, formatted_body: "<b>v2</b>" },
              "m.relates_to": { rel_type: "m.replace", event_id: EV0 },
            }),
          ),
        ),
      );
      assert.deepEqual(out["m.new_content"], {
        msgtype: "m.text",
        body: "v2",
        format: HTML,
        formatted_body: "<b>v2</b>",
      });
      assert.deepEqual(out["m.relates_to"], { rel_type: "m.replace", event_id: EV0 });
    });

    it("keeps a reaction's key and target, and a redaction's target", () => {
      const rel = { rel_type: "m.annotation", event_id: EV1, key: "🎉" };
      assert.deepEqual(back(there({ type: "m.reaction", content: { "m.relates_to": rel } })), {
        kind: "event",
        type: "m.reaction",
        content: { "m.relates_to": rel },
      });
      assert.deepEqual(back(there({ type: "m.room.redaction", redacts: EV0, content: {} })), {
        kind: "redaction",
        redacts: EV0,
      });
    });

    it("keeps media: msgtype, caption, filename and info", () => {
      const content = {
        msgtype: "m.image",
        body: "a caption",
        filename: "cat.png",
        url: "mxc://bridge.example/m",
        info: { mimetype: "image/png", size: 1234, w: 640, h: 480 },
      };
      const p = placeholder(toPeople(msg(content)));
      const att = people(attachmentToPeople(p, UPLOAD)) as AttachmentContent;
      assert.deepEqual(
        matrixMessage(attachmentToMatrix(att, { media: { url: p.mxc } }, toMatrixCtx)),
        content,
      );
    });

    it("keeps any non-blank plain body (property)", () => {
      fc.assert(
        fc.property(
          fc.string({ minLength: 1, maxLength: 300 }),
          fc.constantFrom("m.text", "m.notice"),
          (body, msgtype) => {
            fc.pre(body.trim() !== "");
            assert.equal(matrixMessage(back(there(msg({ msgtype, body })))).body, body);
          },
        ),
        { numRuns: 300 },
      );
    });
  });

  describe("hostile input never throws", () => {
    it("1 MB of text and 10,000 nested tags are cut to People's limits", () => {
      const started = Date.now();
      const huge = "x".repeat(1 << 20);
      const deep = "<div>".repeat(10_000) + "y".repeat(1 << 20) + "</div>".repeat(10_000);
      const out = people(
        toPeople(msg({ msgtype: "m.text", body: huge, format: HTML, formatted_body: deep })),
      );
      assert.ok(out.type === "text" && out.body.length <= MAX_TEXT && out.body.endsWith(TRUNCATION_MARKER));
      assert.ok(
        out.html !== undefined && out.html.length <= 2 * MAX_TEXT && out.html.endsWith(TRUNCATION_MARKER),
      );
      const derived = people(
        toPeople(msg({ msgtype: "m.text", body: "", format: HTML, formatted_body: deep })),
      );
      assert.ok(derived.type === "text" && derived.body.length <= MAX_TEXT);
      assert.ok(contentSchema.safeParse(out).success && contentSchema.safeParse(derived).success);
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    });

    const relatesTo = fc.oneof(
      { arbitrary: fc.jsonValue(), weight: 1 },
      {
        arbitrary: fc.record(
          {
            rel_type: fc.constantFrom("m.replace", "m.annotation", "m.thread", "x"),
            event_id: fc.constantFrom(EV0, "$unknown", "bad", 5),
            key: fc.string(),
            is_falling_back: fc.boolean(),
            "m.in_reply_to": fc.oneof(
              fc.record({ event_id: fc.constantFrom(EV1, "$unknown") }),
              fc.jsonValue(),
            ),
          },
          { requiredKeys: [] },
        ),
        weight: 3,
      },
    );
    const matrixish = fc.record(
      {
        msgtype: fc.constantFrom(
          "m.text",
          "m.notice",
          "m.emote",
          "m.image",
          "m.file",
          "m.audio",
          "m.video",
          "m.location",
          7,
        ),
        body: fc.oneof({ arbitrary: fc.string(), weight: 4 }, { arbitrary: fc.jsonValue(), weight: 1 }),
        filename: fc.string(),
        format: fc.constantFrom(HTML, "x"),
        formatted_body: fc.oneof(fc.string(), fc.constantFrom("<b>x", "<mx-reply>q</mx-reply>a", "")),
        url: fc.constantFrom("mxc://h/a", "https://x", ""),
        file: fc.oneof(fc.constant(ENCRYPTED), fc.jsonValue()),
        info: fc.oneof(
          fc.jsonValue(),
          fc.record(
            {
              mimetype: fc.string(),
              size: fc.double(),
              w: fc.integer(),
              h: fc.jsonValue(),
              duration: fc.integer(),
              thumbnail_url: fc.string(),
            },
            { requiredKeys: [] },
          ),
        ),
        "m.relates_to": relatesTo,
        "m.new_content": fc.oneof(
          fc.jsonValue(),
          fc.record({ msgtype: fc.constantFrom("m.text", "m.image"), body: fc.string() }),
        ),
      },
      { requiredKeys: ["msgtype", "body"] },
    );
    const types = [
      "m.room.message",
      "m.sticker",
      "m.reaction",
      "m.room.redaction",
      "m.room.member",
      "m.receipt",
    ];

    function checkPeople(result: ToPeople): void {
      assert.ok(["content", "attachment", "unbridgeable"].includes(result.kind));
      if (result.kind === "content") assert.ok(contentSchema.safeParse(result.content).success);
      if (result.kind === "attachment") {
        assert.ok(contentSchema.safeParse(people(attachmentToPeople(result, UPLOAD, THUMB_UPLOAD))).success);
      }
    }

    it("arbitrary JSON as Matrix content or event is a value or Unbridgeable (property)", () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...types),
          fc.oneof(fc.jsonValue(), matrixish),
          fc.jsonValue(),
          (type, content, redacts) => {
            checkPeople(matrixEventToPeople({ type, content, redacts }, toPeopleCtx));
            checkPeople(matrixReceiptToPeople(content, ME, toPeopleCtx));
            checkPeople(matrixTypingToPeople(content, ME));
          },
        ),
        { numRuns: 2000 },
      );
      fc.assert(
        fc.property(fc.jsonValue(), (event) => {
          checkPeople(matrixEventToPeople(event as unknown as MatrixEventInput, toPeopleCtx));
        }),
        { numRuns: 500 },
      );
    });

    it("arbitrary JSON as People content is a Matrix value or Unbridgeable (property)", () => {
      const peopleish = fc.record(
        {
          type: fc.constantFrom(
            "text",
            "edit",
            "reaction",
            "redaction",
            "receipt",
            "typing",
            "attachment",
            "group_key",
          ),
          body: fc.string(),
          html: fc.string(),
          target: fc.constantFrom(ID0, UNKNOWN_ID, "x"),
          targets: fc.array(fc.constantFrom(ID0, ID1, UNKNOWN_ID)),
          key: fc.string(),
          reply_to: fc.constantFrom(ID0, UNKNOWN_ID),
          active: fc.boolean(),
          timeout_ms: fc.integer({ min: 0, max: 120_000 }),
        },
        { requiredKeys: ["type"] },
      );
      fc.assert(
        fc.property(fc.oneof(fc.jsonValue(), peopleish), (content) => {
          const out = peopleToMatrix(content as MessageContent, toMatrixCtx);
          assert.ok(
            ["event", "redaction", "receipt", "typing", "transfer", "unbridgeable"].includes(out.kind),
          );
          const att = attachmentToMatrix(
            content as AttachmentContent,
            { media: { url: "mxc://h/a" as MxcUri } },
            toMatrixCtx,
          );
          assert.ok(["event", "unbridgeable"].includes(att.kind));
        }),
        { numRuns: 2000 },
      );
    });
  });
});
