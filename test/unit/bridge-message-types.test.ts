// Message types in their best People form (issue 14): stickers and voice
// messages as attachments with a kind, locations as text with a geo URI and a
// map link, polls as text with the vote back and the results at the end; and
// the ordinary types (emote, notice, mentions, a file without a mimetype, every
// People type of the converter table). Pure converters and parsers, no IO;
// property tests for the new parsers (geo URIs, location texts, poll answers).
import assert from "node:assert/strict";
import fc from "fast-check";
import type { MessageId } from "../../src/people/protocol/ids";
import { contentSchema, type MessageContent } from "../../src/people/protocol/messages";
import { summary } from "../../src/people/cli/render";
import type { MatrixEventId, MxcUri } from "../../src/bridge/model/matrix-ids";
import {
  attachmentToPeople,
  matrixEventToPeople,
  type AttachmentPlaceholder,
  type BlobUpload,
  type MatrixEventInput,
  type ToPeople,
} from "../../src/bridge/model/matrix-to-people";
import {
  PEOPLE_TO_MATRIX,
  attachmentToMatrix,
  peopleToMatrix,
  type AttachmentContent,
  type PeopleToMatrixContext,
  type ToMatrix,
} from "../../src/bridge/model/people-to-matrix";
import {
  formatGeoUri,
  locationText,
  mapLink,
  parseGeoUri,
  parseLocationText,
  type GeoPoint,
} from "../../src/bridge/model/location";
import {
  matchPollAnswer,
  parsePollStart,
  pollResponse,
  tallyPoll,
  type Poll,
  type RawRoomEvent,
} from "../../src/bridge/model/polls";

const ids = [0, 1, 2].map((i) => `${"A".repeat(20)}${i}A` as MessageId);
const events = [0, 1, 2].map((i) => `$e${i}` as MatrixEventId);
const [ID0, ID1] = ids as [MessageId, MessageId];
const [EV0, EV1] = events as [MatrixEventId, MatrixEventId];
const toPeopleCtx = { peopleIdOf: (e: MatrixEventId) => ids[events.indexOf(e)] };
const toMatrixCtx: PeopleToMatrixContext = { matrixIdOf: (m: MessageId) => events[ids.indexOf(m)] };
const key = (c: string) => c.repeat(42) + "A";
const UPLOAD: BlobUpload = {
  server: "people.example",
  id: "I".repeat(43),
  key: key("K"),
  hash: key("H"),
  size: 1234,
};
const MXC = "mxc://hs.example/m" as MxcUri;

const toPeople = (event: MatrixEventInput, ctx = toPeopleCtx) => matrixEventToPeople(event, ctx);
const msg = (content: unknown): MatrixEventInput => ({ type: "m.room.message", content });
function people(result: ToPeople): MessageContent {
  assert.equal(result.kind, "content", JSON.stringify(result));
  const content = (result as { content: MessageContent }).content;
  assert.ok(contentSchema.safeParse(content).success, "passes the protocol schema");
  return content;
}
function placeholder(result: ToPeople): AttachmentPlaceholder {
  assert.equal(result.kind, "attachment", JSON.stringify(result));
  return result as AttachmentPlaceholder;
}
function event(result: ToMatrix): { type: string; content: Record<string, unknown> } {
  assert.equal(result.kind, "event", JSON.stringify(result));
  return result as { type: string; content: Record<string, unknown> };
}

const blob = (mime: string, extra: object = {}) => ({
  server: "people.example",
  id: UPLOAD.id,
  key: UPLOAD.key,
  hash: UPLOAD.hash,
  size: 1234,
  mime,
  ...extra,
});

describe("message types: the People message schema", function () {
  const base = { type: "attachment", blob: blob("audio/ogg", { duration_ms: 4200 }) };
  it("takes an attachment kind and a waveform; any well-formed later kind is accepted too", function () {
    assert.ok(contentSchema.safeParse({ ...base, kind: "voice", waveform: [0, 512, 1024] }).success);
    assert.ok(contentSchema.safeParse({ ...base, kind: "sticker" }).success);
    // A kind this version does not know is still a message it shows (as a plain file).
    assert.ok(contentSchema.safeParse({ ...base, kind: "video_note" }).success);
  });
  it("the people CLI names a voice message and a sticker, and shows an unknown kind as the file", function () {
    const voice = { ...base, kind: "voice" } as MessageContent;
    assert.equal(summary(voice), "[voice: attachment, 1.2 KB, audio/ogg]");
    assert.equal(
      summary({ ...base, kind: "video_note" } as MessageContent),
      "[attachment, 1.2 KB, audio/ogg]",
    );
  });
  it("refuses a malformed kind or waveform", function () {
    for (const bad of [
      { kind: "Voice" },
      { kind: "" },
      { kind: "x".repeat(33) },
      { kind: 1 },
      { waveform: [1025] },
      { waveform: [-1] },
      { waveform: [0.5] },
      { waveform: new Array(1025).fill(1) },
    ])
      assert.equal(contentSchema.safeParse({ ...base, ...bad }).success, false, JSON.stringify(bad));
  });
});

describe("message types: Matrix → People", function () {
  it("m.sticker → an attachment of kind sticker, the description as caption", function () {
    const p = placeholder(
      toPeople({ type: "m.sticker", content: { body: "cat", url: MXC, info: { mimetype: "image/webp" } } }),
    );
    assert.equal(p.shownAs, "sticker");
    const content = people(attachmentToPeople(p, UPLOAD));
    assert.deepEqual(content, {
      type: "attachment",
      blob: { ...blob("image/webp"), size: UPLOAD.size },
      caption: "cat",
      kind: "sticker",
    });
  });

  const voice = {
    msgtype: "m.audio",
    body: "Voice message",
    url: MXC,
    info: { mimetype: "audio/ogg", size: 5000 },
    "org.matrix.msc1767.audio": { duration: 4200, waveform: [0, 100, 1024, 3] },
    "org.matrix.msc3245.voice": {},
  };
  it("an m.audio with MSC3245's flag → an attachment of kind voice with its waveform and duration", function () {
    const content = people(attachmentToPeople(placeholder(toPeople(msg(voice))), UPLOAD));
    assert.ok(content.type === "attachment");
    assert.equal(content.kind, "voice");
    assert.deepEqual(content.waveform, [0, 100, 1024, 3]);
    assert.equal(content.blob.duration_ms, 4200);
    assert.equal(content.blob.mime, "audio/ogg");
  });
  it("without the flag it is a plain audio file; a bad waveform is dropped, not fatal", function () {
    const plain = people(
      attachmentToPeople(
        placeholder(toPeople(msg({ ...voice, "org.matrix.msc3245.voice": undefined }))),
        UPLOAD,
      ),
    );
    assert.ok(plain.type === "attachment");
    assert.equal(plain.kind, undefined);
    assert.equal(plain.waveform, undefined);
    const odd = people(
      attachmentToPeople(
        placeholder(
          toPeople(msg({ ...voice, "org.matrix.msc1767.audio": { waveform: [5000], duration: 7 } })),
        ),
        UPLOAD,
      ),
    );
    assert.ok(odd.type === "attachment");
    assert.equal(odd.kind, "voice");
    assert.equal(odd.waveform, undefined);
  });
  it("a waveform longer than People carries keeps each stretch's peak", function () {
    const long = Array.from({ length: 4096 }, (_, i) => (i % 4 === 3 ? 900 : 10));
    const p = placeholder(toPeople(msg({ ...voice, "org.matrix.msc1767.audio": { waveform: long } })));
    assert.equal(p.waveform?.length, 1024);
    assert.ok(p.waveform!.every((a) => a === 900));
    assert.ok(contentSchema.safeParse(people(attachmentToPeople(p, UPLOAD))).success);
  });
  it("an m.image with the voice flag is not a voice message", function () {
    const p = placeholder(toPeople(msg({ ...voice, msgtype: "m.image", info: { mimetype: "image/png" } })));
    assert.equal(p.shownAs, undefined);
  });

  it("m.location → a text with the description, the geo URI and an OpenStreetMap link", function () {
    const element = msg({
      msgtype: "m.location",
      body: "Location geo:51.5008,-0.1247;u=35 at 2026-12-04T10:00:00.000Z",
      geo_uri: "geo:51.5008,-0.1247;u=35",
      "org.matrix.msc3488.location": { uri: "geo:51.5008,-0.1247;u=35", description: "Big Ben" },
    });
    assert.deepEqual(people(toPeople(element)), {
      type: "text",
      body:
        "📍 Big Ben\ngeo:51.5008,-0.1247;u=35\n" +
        "https://www.openstreetmap.org/?mlat=51.5008&mlon=-0.1247#map=16/51.5008/-0.1247",
    });
    // A plain client's m.location: the body describes the place; a reply keeps its target.
    const plain = people(
      toPeople(
        msg({
          msgtype: "m.location",
          body: "the pub",
          geo_uri: "geo:1,2",
          "m.relates_to": { "m.in_reply_to": { event_id: EV1 } },
        }),
      ),
    );
    assert.deepEqual(plain, {
      type: "text",
      body: "📍 the pub\ngeo:1,2\nhttps://www.openstreetmap.org/?mlat=1&mlon=2#map=16/1/2",
      reply_to: ID1,
    });
  });
  it("an m.location whose geo URI is missing, out of range or in another crs is refused as invalid", function () {
    for (const geo_uri of [
      undefined,
      "geo:91,0",
      "geo:0,181",
      "geo:1,2;crs=EPSG:32618",
      "http://x",
      "geo:1",
    ]) {
      const r = toPeople(msg({ msgtype: "m.location", body: "x", ...(geo_uri && { geo_uri }) }));
      assert.equal(r.kind, "unbridgeable", String(geo_uri));
    }
  });

  const unstablePoll = {
    "org.matrix.msc3381.poll.start": {
      kind: "org.matrix.msc3381.poll.disclosed",
      max_selections: 1,
      question: { "org.matrix.msc1767.text": "Lunch?" },
      answers: [
        { id: "pizza", "org.matrix.msc1767.text": "Pizza" },
        { id: "soup", "org.matrix.msc1767.text": "Soup  of the day" },
      ],
    },
    "org.matrix.msc1767.text": "Lunch?\n1. Pizza\n2. Soup of the day",
  };
  const stablePoll = {
    "m.poll": {
      kind: "m.undisclosed",
      max_selections: 2,
      question: { "m.text": [{ body: "Which days?" }] },
      answers: [
        { "m.id": "mo", "m.text": [{ body: "Monday" }] },
        { "m.id": "tu", "m.text": [{ mimetype: "text/html", body: "<b>Tuesday</b>" }, { body: "Tuesday" }] },
        { "m.id": "we", "m.text": [{ body: "Wednesday" }] },
      ],
    },
  };
  it("a poll's start → a text with the question and numbered options (both namespaces)", function () {
    assert.deepEqual(people(toPeople({ type: "org.matrix.msc3381.poll.start", content: unstablePoll })), {
      type: "text",
      body: "📊 Poll: Lunch?\n1. Pizza\n2. Soup of the day\nReply to this message with the number or the text of your answer.",
    });
    assert.deepEqual(people(toPeople({ type: "m.poll.start", content: stablePoll })), {
      type: "text",
      body:
        "📊 Poll: Which days?\n1. Monday\n2. Tuesday\n3. Wednesday\n" +
        "Reply to this message with up to 2 numbers or answers, separated by commas. The results are shown when the poll ends.",
    });
    for (const bad of [{}, { "org.matrix.msc3381.poll.start": { question: {}, answers: [] } }])
      assert.equal(toPeople({ type: "m.poll.start", content: bad }).kind, "unbridgeable");
  });

  const vote = (sender: string, answers: string[], ts: number): RawRoomEvent => ({
    type: "org.matrix.msc3381.poll.response",
    sender,
    content: {
      "org.matrix.msc3381.poll.response": { answers },
      "m.relates_to": { rel_type: "m.reference", event_id: EV0 },
    },
    originServerTs: ts,
  });
  const end = {
    "org.matrix.msc3381.poll.end": {},
    "org.matrix.msc1767.text": "Ended poll",
    "m.relates_to": { rel_type: "m.reference", event_id: EV0 },
  };
  it("a poll's end → the results as a text, in reply to the poll's text", function () {
    const history = {
      start: { type: "org.matrix.msc3381.poll.start", sender: "@alice:hs", content: unstablePoll },
      responses: [
        vote("@alice:hs", ["soup"], 10),
        vote("@bob:hs", ["soup"], 11),
        vote("@bob:hs", ["pizza"], 12), // Bob changed his mind: his latest vote counts
        vote("@carol:hs", ["nope"], 13), // spoiled
        vote("@dave:hs", ["pizza"], 99), // after the end
      ],
    };
    const ctx = { ...toPeopleCtx, pollOf: (id: MatrixEventId) => (id === EV0 ? history : undefined) };
    const out = people(
      toPeople({ type: "org.matrix.msc3381.poll.end", content: end, originServerTs: 50 }, ctx),
    );
    assert.deepEqual(out, {
      type: "text",
      body: "📊 Poll ended: Lunch?\n1. Pizza: 1 vote\n2. Soup of the day: 1 vote",
      reply_to: ID0,
    });
    // Without the poll's history, its own text stands in; a poll never bridged is refused.
    assert.deepEqual(people(toPeople({ type: "m.poll.end", content: end })), {
      type: "text",
      body: "📊 Ended poll",
      reply_to: ID0,
    });
    const stray = { ...end, "m.relates_to": { rel_type: "m.reference", event_id: "$never" } };
    assert.equal(
      (toPeople({ type: "m.poll.end", content: stray }) as { reason?: string }).reason,
      "unknown_target",
    );
  });

  it("m.emote, m.notice, mentions in HTML and a whitespace-only message", function () {
    assert.deepEqual(people(toPeople(msg({ msgtype: "m.emote", body: "waves" }))), {
      type: "text",
      body: "* waves",
    });
    assert.deepEqual(people(toPeople(msg({ msgtype: "m.notice", body: "beep" }))), {
      type: "text",
      body: "beep",
    });
    const mention = people(
      toPeople(
        msg({
          msgtype: "m.text",
          body: "Bob: hi",
          format: "org.matrix.custom.html",
          formatted_body: '<a href="https://matrix.to/#/@bob:hs.example">Bob</a>: hi',
          "m.mentions": { user_ids: ["@bob:hs.example"] },
        }),
      ),
    );
    assert.deepEqual(mention, {
      type: "text",
      body: "Bob: hi",
      html: '<a href="https://matrix.to/#/@bob:hs.example">Bob</a>: hi',
    });
    for (const body of [" ", "\n\t", "\u00a0 "])
      assert.equal(
        (toPeople(msg({ msgtype: "m.text", body })) as { reason?: string }).reason,
        "nothing_to_bridge",
      );
  });

  it("an m.file with no mimetype → application/octet-stream", function () {
    const p = placeholder(toPeople(msg({ msgtype: "m.file", body: "notes", url: MXC })));
    assert.equal(p.mime, "application/octet-stream");
    assert.equal(p.name, "notes");
  });
});

describe("message types: People → Matrix", function () {
  const url = { url: MXC };
  const audio = (extra: Partial<AttachmentContent> = {}): AttachmentContent => ({
    type: "attachment",
    blob: blob("audio/ogg", { duration_ms: 4200, name: "voice.ogg" }),
    ...extra,
  });

  it("every type of the converter table has a Matrix form", function () {
    const samples: { [T in keyof typeof PEOPLE_TO_MATRIX]: [MessageContent, ToMatrix["kind"]] } = {
      text: [{ type: "text", body: "hi" }, "event"],
      edit: [{ type: "edit", target: ID0, body: "hi!" }, "event"],
      reaction: [{ type: "reaction", target: ID0, key: "👍" }, "event"],
      redaction: [{ type: "redaction", target: ID0 }, "redaction"],
      receipt: [{ type: "receipt", targets: [ID0] }, "receipt"],
      typing: [{ type: "typing", active: true, timeout_ms: 1000 }, "typing"],
      attachment: [audio(), "transfer"],
    };
    for (const [type, [content, kind]] of Object.entries(samples))
      assert.equal(peopleToMatrix(content, toMatrixCtx).kind, kind, type);
  });

  it("a text with a mention in its HTML keeps the mention's link; a whitespace-only text is nothing to bridge", function () {
    const html = '<a href="https://matrix.to/#/@alice:hs.example">Alice</a>: lunch?';
    const e = event(peopleToMatrix({ type: "text", body: "Alice: lunch?", html }, toMatrixCtx));
    assert.deepEqual(e.content, {
      msgtype: "m.text",
      body: "Alice: lunch?",
      format: "org.matrix.custom.html",
      formatted_body: html,
    });
    for (const body of [" ", "\n\t "]) {
      const r = peopleToMatrix({ type: "text", body }, toMatrixCtx);
      assert.equal((r as { reason?: string }).reason, "nothing_to_bridge");
    }
  });

  it("an attachment of kind voice → m.audio with MSC3245's flag, the duration and the waveform", function () {
    const e = event(
      attachmentToMatrix(audio({ kind: "voice", waveform: [1, 2, 3] }), { media: url }, toMatrixCtx),
    );
    assert.equal(e.type, "m.room.message");
    assert.equal(e.content.msgtype, "m.audio");
    assert.deepEqual(e.content["org.matrix.msc3245.voice"], {});
    assert.deepEqual(e.content["org.matrix.msc1767.audio"], { duration: 4200, waveform: [1, 2, 3] });
    assert.deepEqual(e.content.info, { mimetype: "audio/ogg", size: 1234, duration: 4200 });
    // Without the kind, or with a kind this version does not know: a plain audio file.
    for (const extra of [{}, { kind: "video_note" }]) {
      const plain = event(attachmentToMatrix(audio(extra), { media: url }, toMatrixCtx));
      assert.equal(plain.content["org.matrix.msc3245.voice"], undefined);
      assert.equal(plain.content.msgtype, "m.audio");
    }
  });

  it("an attachment of kind sticker → m.sticker (m.image in an encrypted room, which has no url)", function () {
    const sticker: AttachmentContent = {
      type: "attachment",
      blob: blob("image/png", { width: 64, height: 64 }),
      caption: "cat",
      kind: "sticker",
      reply_to: ID1,
    };
    assert.deepEqual(attachmentToMatrix(sticker, { media: url }, toMatrixCtx), {
      kind: "event",
      type: "m.sticker",
      content: {
        body: "cat",
        url: MXC,
        info: { mimetype: "image/png", size: 1234, w: 64, h: 64 },
        "m.relates_to": { "m.in_reply_to": { event_id: EV1 } },
      },
    });
    const file = { url: MXC, key: { kty: "oct", key_ops: [], alg: "A256CTR", k: "k".repeat(43), ext: true } };
    const encrypted = event(
      attachmentToMatrix(
        sticker,
        {
          media: {
            file: { ...file, iv: "i".repeat(22), hashes: { sha256: "h".repeat(43) }, v: "v2" } as never,
          },
        },
        toMatrixCtx,
      ),
    );
    assert.equal(encrypted.type, "m.room.message");
    assert.equal(encrypted.content.msgtype, "m.image");
    // A "sticker" that is not an image is the file it is.
    const pdf = event(
      attachmentToMatrix({ ...sticker, blob: blob("application/pdf") }, { media: url }, toMatrixCtx),
    );
    assert.equal(pdf.content.msgtype, "m.file");
  });

  it("a text that is only a location → m.location; a text that mentions one stays a text", function () {
    const e = event(
      peopleToMatrix(
        {
          type: "text",
          body: "📍 Big Ben\ngeo:51.5008,-0.1247;u=35\nhttps://www.openstreetmap.org/?mlat=51.5008&mlon=-0.1247#map=16/51.5008/-0.1247",
        },
        toMatrixCtx,
      ),
    );
    assert.equal(e.type, "m.room.message");
    assert.equal(e.content.msgtype, "m.location");
    assert.equal(e.content.geo_uri, "geo:51.5008,-0.1247;u=35");
    assert.deepEqual(e.content["org.matrix.msc3488.location"], {
      uri: "geo:51.5008,-0.1247;u=35",
      description: "Big Ben",
    });
    assert.match(String(e.content.body), /openstreetmap/);
    const bare = event(peopleToMatrix({ type: "text", body: "geo:-33.86,151.21" }, toMatrixCtx));
    assert.equal(bare.content.msgtype, "m.location");
    assert.equal(bare.content.geo_uri, "geo:-33.86,151.21");
    for (const body of ["meet me at geo:1,2 at noon", "geo:1,2\nsee you", "geo:100,2", "a\nb\ngeo:1,2"])
      assert.equal(
        event(peopleToMatrix({ type: "text", body }, toMatrixCtx)).content.msgtype,
        "m.text",
        body,
      );
  });

  const poll = parsePollStart({
    "org.matrix.msc3381.poll.start": {
      question: { "org.matrix.msc1767.text": "Lunch?" },
      answers: [
        { id: "pizza", "org.matrix.msc1767.text": "Pizza" },
        { id: "soup", "org.matrix.msc1767.text": "Soup" },
      ],
    },
  })!;
  const pollCtx: PeopleToMatrixContext = { ...toMatrixCtx, pollOf: (id) => (id === EV0 ? poll : undefined) };
  it("a reply to a bridged poll naming an option → the ghost's vote; anything else stays a reply", function () {
    for (const body of ["2", " soup ", "SOUP", "#2"])
      assert.deepEqual(peopleToMatrix({ type: "text", body, reply_to: ID0 }, pollCtx), {
        kind: "event",
        type: "org.matrix.msc3381.poll.response",
        content: {
          "org.matrix.msc3381.poll.response": { answers: ["soup"] },
          "m.relates_to": { rel_type: "m.reference", event_id: EV0 },
        },
      });
    for (const [body, reply_to] of [
      ["3", ID0],
      ["soup please", ID0],
      ["2", ID1],
      ["1, 2", ID0],
    ] as const) {
      const e = event(peopleToMatrix({ type: "text", body, reply_to }, pollCtx));
      assert.equal(e.content.msgtype, "m.text", body);
    }
  });
});

describe("message types: parsers (properties)", function () {
  const point = fc.record(
    {
      lat: fc.double({ min: -90, max: 90, noNaN: true }),
      lon: fc.double({ min: -180, max: 180, noNaN: true }),
      alt: fc.double({ min: -1e5, max: 1e5, noNaN: true }),
      u: fc.double({ min: 0, max: 1e5, noNaN: true }),
    },
    { requiredKeys: ["lat", "lon"] },
  );
  const round = (n: number) => Number(n.toFixed(7));
  const near = (a: GeoPoint, b: GeoPoint) =>
    round(a.lat) === b.lat && round(a.lon) === b.lon && (a.alt === undefined) === (b.alt === undefined);

  it("a geo URI written by formatGeoUri parses back to the same point", function () {
    fc.assert(
      fc.property(point, (p) => {
        const parsed = parseGeoUri(formatGeoUri(p));
        assert.ok(parsed && near(p, parsed), formatGeoUri(p));
      }),
    );
  });

  it("any string parses to nothing or to a point in range, never throwing", function () {
    const geoish = fc.oneof(
      fc.string(),
      fc.tuple(fc.string(), fc.string()).map(([a, b]) => `geo:${a},${b}`),
      fc
        .tuple(
          fc.double(),
          fc.double(),
          fc.constantFrom("", ";u=5", ";crs=wgs84", ";crs=x", ";u=-1", ";u=1;u=2"),
        )
        .map(([a, b, p]) => `geo:${a},${b}${p}`),
    );
    fc.assert(
      fc.property(geoish, (s) => {
        const p = parseGeoUri(s);
        if (p)
          assert.ok(Math.abs(p.lat) <= 90 && Math.abs(p.lon) <= 180 && (p.u === undefined || p.u >= 0), s);
      }),
      { numRuns: 2000 },
    );
  });

  it("a location text parses back to its point and description; its map link names the point", function () {
    const description = fc.option(fc.string({ maxLength: 80 }), { nil: undefined });
    fc.assert(
      fc.property(point, description, (p, d) => {
        const text = locationText({ point: p, ...(d !== undefined && { description: d }) });
        const parsed = parseLocationText(text);
        assert.ok(parsed && near(p, parsed.point), text);
        const cleaned = d
          ?.replace(/\s+/g, " ")
          .trim()
          .replace(/^📍\s*/u, "")
          .trim();
        const expected = !cleaned || cleaned === "Location" ? undefined : cleaned;
        assert.equal(parsed.description, expected, text);
        assert.ok(text.includes(mapLink(parsed.point)));
      }),
    );
  });

  it("text around a location makes it a text again (property)", function () {
    fc.assert(
      fc.property(
        point,
        fc.string({ minLength: 1 }).filter((s) => s.trim() !== ""),
        (p, extra) => {
          const text = `${locationText({ point: p })}\n${extra}`;
          assert.equal(parseLocationText(text), undefined, text);
        },
      ),
    );
  });

  const answerText = fc.string({ minLength: 1, maxLength: 20 }).filter((s) => s.trim() !== "");
  const polls = fc
    .record({
      texts: fc.uniqueArray(answerText, {
        minLength: 1,
        maxLength: 20,
        selector: (s) => s.normalize("NFC").replace(/\s+/g, " ").trim().toLowerCase(),
      }),
      max: fc.integer({ min: 1, max: 20 }),
    })
    .map(({ texts, max }): Poll =>
      parsePollStart({
        "org.matrix.msc3381.poll.start": {
          question: { "org.matrix.msc1767.text": "Q" },
          max_selections: max,
          answers: texts.map((t, i) => ({ id: `a${i}`, "org.matrix.msc1767.text": t })),
        },
      })!,
    )
    .filter((p) => p !== undefined);

  it("an option's text (any case and spacing) names that option", function () {
    fc.assert(
      fc.property(polls, fc.nat(), (poll, n) => {
        const a = poll.answers[n % poll.answers.length]!;
        assert.deepEqual(matchPollAnswer(poll, `  ${a.text.toUpperCase()} `), [a.id]);
      }),
    );
  });

  it("a number names the option it numbers, unless an option's text is that number", function () {
    fc.assert(
      fc.property(polls, fc.nat(), (poll, n) => {
        const i = n % poll.answers.length;
        const byText = poll.answers.find((a) => a.text.trim().toLowerCase() === String(i + 1));
        assert.deepEqual(matchPollAnswer(poll, String(i + 1)), [(byText ?? poll.answers[i]!).id]);
      }),
    );
  });

  it("any reply names nothing or at most max_selections known options, never throwing", function () {
    fc.assert(
      fc.property(
        polls,
        fc.oneof(
          fc.string(),
          fc.array(fc.nat({ max: 25 })).map((ns) => ns.join(", ")),
        ),
        (poll, body) => {
          const ids = matchPollAnswer(poll, body);
          if (ids === undefined) return;
          assert.ok(ids.length >= 1 && ids.length <= poll.maxSelections);
          assert.equal(new Set(ids).size, ids.length);
          for (const id of ids) assert.ok(poll.answers.some((a) => a.id === id));
        },
      ),
    );
  });

  it("the tally counts each voter once, never more votes than voters", function () {
    const votes = fc.array(
      fc.record({
        sender: fc.constantFrom("@a:h", "@b:h", "@c:h"),
        ids: fc.array(fc.constantFrom("a0", "a1", "a2", "zz"), { maxLength: 4 }),
        ts: fc.nat({ max: 100 }),
      }),
    );
    fc.assert(
      fc.property(polls, votes, (poll, vs) => {
        const raw = vs.map((v) => ({
          ...pollResponse(poll, "$p", v.ids),
          sender: v.sender,
          originServerTs: v.ts,
        }));
        const counts = tallyPoll(poll, raw);
        const voters = new Set(vs.map((v) => v.sender)).size;
        for (const n of counts.values()) assert.ok(n <= voters);
        const total = [...counts.values()].reduce((a, b) => a + b, 0);
        assert.ok(total <= voters * poll.maxSelections);
      }),
    );
  });
});
