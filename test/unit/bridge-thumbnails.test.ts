// Thumbnails both ways, without IO: which thumbnails the pure converters
// carry, and the flows moving the thumbnail's bytes next to the media's over
// in-memory fakes (a thumbnail that cannot be had is left out, never the media).
import assert from "node:assert/strict";
import type { RoomEvent } from "../../src/bridge/core/ports/matrix-side.js";
import type { MxcUri } from "../../src/bridge/model/matrix-ids.js";
import { matrixEventToPeople } from "../../src/bridge/model/matrix-to-people.js";
import { attachmentToMatrix, peopleToMatrix } from "../../src/bridge/model/people-to-matrix.js";
import { MAX_THUMBNAIL_BYTES } from "../../src/bridge/model/thumbnails.js";
import { MatrixToPeopleFlow } from "../../src/bridge/portals/matrix-to-people-flow.js";
import { PeopleToMatrixFlow } from "../../src/bridge/portals/people-to-matrix-flow.js";
import { PortalService } from "../../src/bridge/portals/portal-service.js";
import { Permissions } from "../../src/bridge/core/permissions.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import {
  FakeGhosts,
  FakePeople,
  MemoryMessages,
  MemoryPortals,
  incoming,
  newMetrics,
  silentLog,
} from "../helpers/portal-fakes.js";

const ALICE = "@alice:hs.test";
const JOE = "joe@other.test";
type Attachment = Extract<MessageContent, { type: "attachment" }>;

const BLOB = {
  server: "other.test",
  id: "B".repeat(43),
  key: "K".repeat(42) + "A",
  hash: "H".repeat(42) + "A",
  mime: "image/png",
  size: 1234,
};
const ctx = { matrixIdOf: () => undefined, peopleIdOf: () => undefined };

describe("thumbnails in the converters", function () {
  const image = (thumbInfo: Record<string, unknown>) => ({
    type: "m.room.message",
    content: {
      msgtype: "m.image",
      body: "cat.png",
      url: "mxc://hs/a",
      info: { mimetype: "image/png", thumbnail_url: "mxc://hs/t", thumbnail_info: thumbInfo },
    },
  });
  const thumbOf = (thumbInfo: Record<string, unknown>) => {
    const r = matrixEventToPeople(image(thumbInfo), ctx);
    assert.equal(r.kind, "attachment");
    return r.kind === "attachment" ? r.thumbnail : undefined;
  };

  it("Matrix → People: carries a raster thumbnail, not an SVG, an unknown type or an oversized one", function () {
    assert.equal(thumbOf({ mimetype: "image/jpeg", size: 99 })?.mxc, "mxc://hs/t");
    assert.equal(thumbOf({ mimetype: "image/svg+xml" }), undefined);
    assert.equal(thumbOf({}), undefined);
    assert.equal(thumbOf({ mimetype: "image/jpeg", size: MAX_THUMBNAIL_BYTES + 1 }), undefined);
  });

  it("People → Matrix: transfers a usable thumbnail only, and never for audio", function () {
    const transfer = (blob: object, thumbnail: object) =>
      peopleToMatrix(
        { type: "attachment", blob: { ...BLOB, ...blob }, thumbnail: { ...BLOB, ...thumbnail } },
        ctx,
      );
    assert.equal(
      (transfer({}, { mime: "image/jpeg" }) as { thumbnail?: unknown }).thumbnail !== undefined,
      true,
    );
    assert.equal(
      (transfer({ mime: "video/mp4" }, { mime: "image/jpeg" }) as { thumbnail?: unknown }).thumbnail !==
        undefined,
      true,
    );
    for (const [blob, thumb] of [
      [{ mime: "audio/ogg" }, { mime: "image/jpeg" }],
      [{}, { mime: "image/svg+xml" }],
      [{}, { mime: "text/html" }],
      [{}, { mime: "image/jpeg", size: MAX_THUMBNAIL_BYTES + 1 }],
    ] as const) {
      const r = transfer(blob, thumb);
      assert.equal(r.kind, "transfer");
      assert.equal((r as { thumbnail?: unknown }).thumbnail, undefined, JSON.stringify(thumb));
    }
    const audio = attachmentToMatrix(
      {
        type: "attachment",
        blob: { ...BLOB, mime: "audio/ogg" },
        thumbnail: { ...BLOB, mime: "image/jpeg" },
      },
      { media: { url: "mxc://hs/a" as MxcUri }, thumbnail: { url: "mxc://hs/t" as MxcUri } },
      ctx,
    );
    assert.equal(audio.kind, "event");
    const info = (audio as unknown as { content: { info: Record<string, unknown> } }).content.info;
    assert.equal(info.thumbnail_url, undefined);
  });
});

function setup() {
  const ghosts = new FakeGhosts();
  const people = new FakePeople();
  const portals = new MemoryPortals();
  const messages = new MemoryMessages();
  const permissions = new Permissions({ "hs.test": "user" });
  const metrics = newMetrics();
  const service = new PortalService({ ghosts, portals, people, permissions, log: silentLog });
  const toPeople = new MatrixToPeopleFlow({ ghosts, people, messages, permissions, log: silentLog, metrics });
  const toMatrix = new PeopleToMatrixFlow({ ghosts, portals: service, messages, log: silentLog, metrics });
  return { ghosts, people, portals, toPeople, toMatrix };
}

describe("thumbnails in the flows", function () {
  const portal = { roomId: "!p:hs.test", matrixUser: ALICE, peopleAddress: JOE, createdAt: 1 };
  let seq = 0;
  const imageEvent = (thumbnailUrl: string): RoomEvent => ({
    type: "m.room.message",
    roomId: portal.roomId,
    sender: ALICE,
    eventId: `$t${++seq}`,
    content: {
      msgtype: "m.image",
      body: "cat.png",
      url: "mxc://hs.test/full",
      info: {
        mimetype: "image/png",
        size: 5,
        thumbnail_url: thumbnailUrl,
        thumbnail_info: { mimetype: "image/jpeg", size: 3, w: 4, h: 2 },
      },
    },
  });

  it("Matrix → People: the thumbnail's bytes go to People beside the media's", async function () {
    const s = setup();
    await s.portals.put(portal);
    s.ghosts.media.set("mxc://hs.test/full", Buffer.from("image"));
    s.ghosts.media.set("mxc://hs.test/thumb", Buffer.from("tmb"));
    await s.toPeople.handle(imageEvent("mxc://hs.test/thumb"), portal);
    const alice = await s.people.accountFor(ALICE);
    const sent = alice.sent[0]!.content as Attachment;
    assert.equal(sent.type, "attachment");
    assert.deepEqual(await alice.downloadAttachment(sent.blob), Buffer.from("image"));
    assert.ok(sent.thumbnail, "no thumbnail");
    assert.deepEqual(await alice.downloadAttachment(sent.thumbnail), Buffer.from("tmb"));
    assert.equal(sent.thumbnail.mime, "image/jpeg");
    assert.equal(sent.thumbnail.width, 4);
  });

  it("Matrix → People: a thumbnail the homeserver does not have is left out, the image still goes", async function () {
    const s = setup();
    await s.portals.put(portal);
    s.ghosts.media.set("mxc://hs.test/full", Buffer.from("image"));
    await s.toPeople.handle(imageEvent("mxc://hs.test/gone"), portal);
    const sent = (await s.people.accountFor(ALICE)).sent[0]!.content as Attachment;
    assert.equal(sent.type, "attachment");
    assert.equal(sent.thumbnail, undefined);
    assert.deepEqual(s.ghosts.notices(), []);
  });

  it("People → Matrix: the thumbnail is uploaded as the ghost and named in info", async function () {
    const s = setup();
    await s.portals.put(portal);
    const alice = await s.people.accountFor(ALICE);
    const blob = await alice.uploadAttachment(Buffer.from("video bytes"), {
      mime: "video/mp4",
      name: "v.mp4",
    });
    const thumbnail = await alice.uploadAttachment(Buffer.from("thumb"), { mime: "image/jpeg" });
    await s.toMatrix.handle(
      alice,
      incoming({ from: JOE, to: [alice.address], content: { type: "attachment", blob, thumbnail } }),
    );
    const event = s.ghosts.sent.at(-1)!;
    assert.equal(event.content.msgtype, "m.video");
    const info = event.content.info as Record<string, unknown>;
    assert.deepEqual(s.ghosts.media.get(String(info.thumbnail_url)), Buffer.from("thumb"));
    assert.deepEqual(s.ghosts.media.get(String(event.content.url)), Buffer.from("video bytes"));
    assert.deepEqual(info.thumbnail_info, { mimetype: "image/jpeg", size: 5 });
  });
});
