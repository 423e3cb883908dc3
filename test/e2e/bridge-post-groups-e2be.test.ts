// A post group's room under encryption.default, against the real thing: Synapse
// with the appservice's to-device and device-list extensions, the bridge with
// encryption.allow and default, Joe and Ann on a second People server, and
// Alice on Element X (matrix-js-sdk with Rust crypto, cross-signed). The room
// `group create` makes is encrypted; Alice's encrypted text and image become
// group posts Joe and Ann read; after Ann's ghost is kicked, Ann's own keys
// cannot open the next post while Joe's can; Joe's post reaches Alice's room
// encrypted, from his ghost, with no shield.
import assert from "node:assert/strict";
import type { PeopleClient } from "../../src/people/client/people-client.js";
import { eventually } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf } from "../helpers/bridge-world.js";
import { ElementXClient, NO_SHIELD, describeShield } from "../helpers/element-x-client.js";
import { decryptFile, encryptedFileOf } from "../helpers/element-x-content.js";
import { fakeWebm, pngBytes, tinyPng } from "../helpers/images.js";
import { roomPath, roomRest } from "../helpers/room-rest.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const ANN = `ann@${OTHER}`;
type Json = Record<string, unknown>;

describe("an encrypted post group room with an Element X user", function () {
  this.timeout(180_000);
  let world: BridgeWorld | undefined;
  let alice: ElementXClient | undefined;

  const w = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const user = (): ElementXClient => alice ?? assert.fail("alice not started");
  const joe = (): PeopleClient => w().person(JOE).client;
  const ann = (): PeopleClient => w().person(ANN).client;
  const rest = roomRest(
    () => w().hs,
    () => user().accessToken,
  );
  const { api } = rest;
  const room = roomPath;

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { localhost: "user" },
      configure: (input) => ({ ...input, encryption: { allow: true, default: true } }),
    });
    await w().startPeopleUser(JOE);
    await w().startPeopleUser(ANN);
    alice = await ElementXClient.register(w().hs, "alice");
  });

  after(async function () {
    this.timeout(60_000);
    alice?.stop();
    await world?.stop();
  });

  it("posts Alice's encrypted messages to the group, rotates on a kick, shows Joe's post without a shield", async function () {
    const mgmt = await rest.managementRoom();
    await api("PUT", `${room(mgmt)}/send/m.room.message/create`, {
      msgtype: "m.text",
      body: "group create Friends",
    });
    const made = await eventually(
      "the post group's room",
      async () =>
        (await w().bridge.handle.store.postRooms.rooms()).find((r) => r.matrixUser === user().userId),
      60_000,
    );
    const groupRoom = made.roomId;
    const group = made.audience;
    await user().acceptInvite(groupRoom);
    const encryption = await api("GET", `${room(groupRoom)}/state/m.room.encryption/`);
    assert.equal(encryption.algorithm, "m.megolm.v1.aes-sha2");

    for (const address of [JOE, ANN]) {
      await api("POST", `${room(groupRoom)}/invite`, { user_id: ghostOf(address) });
      await rest.untilJoined(groupRoom, ghostOf(address), "the ghost to join");
    }
    for (const reader of [joe(), ann()]) {
      await eventually(
        "the group's key at the member",
        async () => ((await reader.groups.list()).some((g) => g.id === group) ? true : undefined),
        60_000,
      );
    }

    await user().sendText(groupRoom, "e1: encrypted hello");
    await user().sendImage(groupRoom, {
      data: pngBytes("fjord"),
      mimetype: "image/png",
      name: "fjord.png",
      width: 1,
      height: 1,
    });
    for (const reader of [joe(), ann()]) {
      const posts = await eventually(
        "both posts in Alice's feed",
        async () => {
          const feed = await reader.posts.feed(ALICE_PEOPLE);
          return feed.posts.length >= 2 ? feed.posts : undefined;
        },
        60_000,
      );
      assert.equal(posts[0]!.text, "e1: encrypted hello");
      assert.deepEqual(await reader.posts.download(posts[1]!.attachments[0]!), pngBytes("fjord"));
    }

    const before = (await joe().groups.get(group)).epoch;
    await api("POST", `${room(groupRoom)}/kick`, { user_id: ghostOf(ANN), reason: "bye" });
    await eventually(
      "Joe's client to hold the new epoch",
      async () => ((await joe().groups.get(group)).epoch > before ? true : undefined),
      60_000,
    );
    await user().sendText(groupRoom, "e3: after Ann");
    const seen = await eventually(
      "the new post at Joe",
      async () => (await joe().posts.feed(ALICE_PEOPLE)).posts.find((p) => p.text === "e3: after Ann"),
      60_000,
    );
    const annFeed = await ann().posts.feed(ALICE_PEOPLE);
    assert.ok(!annFeed.posts.some((p) => p.id === seen.id), "Ann opened a post made after her removal");
    assert.equal(annFeed.unopenable.find((u) => u.id === seen.id)?.code, "PEOPLE_UNKNOWN_KEY");

    await joe().posts.post(group, { text: "j1: from Joe" });
    const e = await user().waitForEvent(
      groupRoom,
      (x) => x.getSender() === ghostOf(JOE) && x.getContent().body === "j1: from Joe",
      60_000,
    );
    assert.equal(e.getWireType(), "m.room.encrypted", "Joe's post came in the clear");
    const shield = await user().shieldOf(e);
    assert.deepEqual(shield, NO_SHIELD, `Joe's post shows ${describeShield(shield)}`);
  });

  it("Joe's video with a thumbnail arrives encrypted as m.video with thumbnail_file and thumbnail_info", async function () {
    const made = (await w().bridge.handle.store.postRooms.rooms()).find(
      (r) => r.matrixUser === user().userId,
    );
    const groupRoom = made?.roomId ?? assert.fail("no post group room");
    const video = fakeWebm();
    const thumb = tinyPng(40, 30, 4);
    await joe().posts.post(made!.audience, {
      text: "j2: a video",
      attachments: [{ bytes: video, mime: "video/webm", thumbnail: { bytes: thumb, mime: "image/png" } }],
    });
    const e = await user().waitForEvent(
      groupRoom,
      (x) => x.getSender() === ghostOf(JOE) && x.getContent().msgtype === "m.video",
      60_000,
    );
    assert.equal(e.getWireType(), "m.room.encrypted");
    const info = e.getContent().info as Json;
    assert.equal(info.thumbnail_url, undefined, "an encrypted room gets the thumbnail encrypted");
    assert.deepEqual(info.thumbnail_info, { mimetype: "image/png", size: thumb.length, w: 40, h: 30 });
    const file = encryptedFileOf({ file: info.thumbnail_file } as Json);
    const [, serverName, mediaId] = /^mxc:\/\/([^/]+)\/([^/]+)$/.exec(file.url) ?? [];
    const res = await fetch(
      `${w().hs.url}/_matrix/client/v1/media/download/${serverName ?? ""}/${encodeURIComponent(mediaId ?? "")}`,
      { headers: { authorization: `Bearer ${user().accessToken}` } },
    );
    assert.ok(res.ok);
    const plain = await decryptFile(new Uint8Array(await res.arrayBuffer()), file);
    assert.deepEqual(Buffer.from(plain), thumb);
    assert.deepEqual(Buffer.from(await user().downloadAttachment(e)), video);
  });
});
