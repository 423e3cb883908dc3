// The post attachment's wire shape (PROTOCOL §11.2 "Attachments"): a BlobRef
// with an optional thumbnail, itself a small raster image's BlobRef. Examples,
// and properties: any well-formed attachment parses back to itself; any value
// at all parses or is refused without throwing, and what parses keeps the limits.
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  MAX_POST_THUMBNAIL_BYTES,
  MAX_THUMBNAIL_SIDE,
  postAttachmentSchema,
  postBodySchema,
} from "../../src/people/protocol/post-body.js";

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const key32 = fc.string({ unit: fc.constantFrom(...B64), minLength: 42, maxLength: 42 }).map((s) => `${s}A`);
const blobId = fc.string({ unit: fc.constantFrom(...B64), minLength: 43, maxLength: 43 });
const rasterMime = fc.constantFrom("image/jpeg", "image/png", "image/webp", "image/gif");
const side = fc.integer({ min: 1, max: MAX_THUMBNAIL_SIDE });

const thumbnail = fc.record(
  {
    server: fc.constant("a.test"),
    id: blobId,
    key: key32,
    hash: key32,
    mime: rasterMime,
    size: fc.integer({ min: 0, max: MAX_POST_THUMBNAIL_BYTES }),
    width: side,
    height: side,
  },
  { noNullPrototype: true },
);
const attachment = fc.record(
  {
    server: fc.constant("a.test"),
    id: blobId,
    key: key32,
    hash: key32,
    mime: fc.constantFrom("video/webm", "video/mp4", "image/png", "application/pdf"),
    size: fc.integer({ min: 0, max: 2 ** 40 }),
    name: fc.string({ maxLength: 40 }),
    duration_ms: fc.nat(),
    thumbnail,
  },
  { requiredKeys: ["server", "id", "key", "hash", "mime", "size"], noNullPrototype: true },
);

const example = {
  server: "a.test",
  id: "A".repeat(43),
  key: `${"B".repeat(42)}A`,
  hash: `${"C".repeat(42)}A`,
  mime: "video/webm",
  size: 1000,
  thumbnail: {
    server: "a.test",
    id: "D".repeat(43),
    key: `${"E".repeat(42)}A`,
    hash: `${"F".repeat(42)}A`,
    mime: "image/jpeg",
    size: 2000,
    width: 320,
    height: 180,
  },
};

describe("post attachments with thumbnails: the wire shape", function () {
  it("takes a video with a thumbnail, and one without", function () {
    assert.deepEqual(postAttachmentSchema.parse(example), example);
    const { thumbnail: _t, ...bare } = example;
    assert.deepEqual(postAttachmentSchema.parse(bare), bare);
  });

  it("refuses a thumbnail that is SVG, not an image, too large, without its size, or with members it may not have", function () {
    const t = example.thumbnail;
    for (const bad of [
      { ...t, mime: "image/svg+xml" },
      { ...t, mime: "video/webm" },
      { ...t, size: MAX_POST_THUMBNAIL_BYTES + 1 },
      { ...t, width: 0 },
      { ...t, height: MAX_THUMBNAIL_SIDE + 1 },
      { ...t, width: undefined },
      { ...t, name: "x.jpg" },
      { ...t, duration_ms: 5 },
      { ...t, thumbnail: t },
      { ...t, extra: 1 },
    ]) {
      assert.equal(
        postAttachmentSchema.safeParse({ ...example, thumbnail: bad }).success,
        false,
        JSON.stringify(bad),
      );
    }
    assert.equal(postAttachmentSchema.safeParse({ ...example, extra: 1 }).success, false);
  });

  it("a post body carries attachments with thumbnails", function () {
    const body = {
      v: 1,
      type: "people.post",
      id: "AAAAAAAAAAAAAAAAAAAAAA",
      author: "joe@b.test",
      ts: 1,
      attachments: [example],
    };
    assert.deepEqual(postBodySchema.parse(body), body);
  });

  it("property: every well-formed attachment parses to itself", function () {
    fc.assert(
      fc.property(attachment, (a) => {
        assert.deepEqual(postAttachmentSchema.parse(a), a);
      }),
      { numRuns: 300 },
    );
  });

  it("property: any value parses or is refused, never throws; what parses keeps the thumbnail's limits", function () {
    const anyThumb = fc.oneof(
      fc.anything(),
      thumbnail.chain((t) =>
        fc.record({
          ...Object.fromEntries(
            Object.entries(t).map(([k, v]) => [k, fc.oneof(fc.constant(v), fc.anything())]),
          ),
        }),
      ),
    );
    fc.assert(
      fc.property(anyThumb, (t) => {
        const r = postAttachmentSchema.safeParse({ ...example, thumbnail: t });
        if (!r.success) return;
        const got = r.data.thumbnail;
        if (got === undefined) return; // an attachment without a thumbnail
        assert.ok(/^image\//.test(got.mime) && got.mime !== "image/svg+xml");
        assert.ok(got.size <= MAX_POST_THUMBNAIL_BYTES);
        assert.ok(got.width >= 1 && got.width <= MAX_THUMBNAIL_SIDE);
        assert.ok(got.height >= 1 && got.height <= MAX_THUMBNAIL_SIDE);
      }),
      { numRuns: 500 },
    );
  });
});
