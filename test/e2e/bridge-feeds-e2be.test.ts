// A feed room under encryption.default, against the real thing: Synapse with
// the appservice's to-device and device-list extensions, the bridge with
// encryption.allow and default, Joe on a second People server, and Alice on
// Element X (matrix-js-sdk with Rust crypto, cross-signed). The feed room the
// bridge makes is encrypted; Alice reads Joe's posts decrypted, from a device
// Joe's ghost's owner signed (no shield), the image included; her encrypted
// reply reaches Joe naming the post.
import assert from "node:assert/strict";
import { eventually } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf } from "../helpers/bridge-world.js";
import { ElementXClient, NO_SHIELD, describeShield } from "../helpers/element-x-client.js";
import { pngBytes } from "../helpers/images.js";
import { roomRest } from "../helpers/room-rest.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const JOE_GHOST = ghostOf(JOE);

describe("an encrypted feed room with an Element X user", function () {
  this.timeout(120_000);
  let world: BridgeWorld | undefined;
  let alice: ElementXClient | undefined;

  const w = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const user = (): ElementXClient => alice ?? assert.fail("alice not started");

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { localhost: "user" },
      configure: (input) => ({ ...input, encryption: { allow: true, default: true } }),
    });
    await w().startPeopleUser(JOE);
    alice = await ElementXClient.register(w().hs, "alice");
    await w().bridge.handle.accounts.accountFor(user().userId);
  });

  after(async function () {
    this.timeout(60_000);
    alice?.stop();
    await world?.stop();
  });

  it("shows Joe's posts encrypted and without a shield, and takes Alice's encrypted reply", async function () {
    const joe = w().person(JOE).client;
    const group = (await joe.groups.createGroup("Friends", [ALICE_PEOPLE])).id;
    await eventually("Alice's account to hold the group's key", async () =>
      (await w().bridge.handle.accounts.clientOf(user().userId)!.groups.list()).some((g) => g.id === group)
        ? true
        : undefined,
    );
    await joe.posts.postPublic({ text: "a public post" });
    const g = await joe.posts.post(group, {
      text: "a group post with a picture",
      attachments: [{ bytes: pngBytes("lake"), mime: "image/png", name: "lake.png" }],
    });

    const rest = roomRest(
      () => w().hs,
      () => user().accessToken,
    );
    const management = await rest.managementRoom();
    await rest.send(management, "m.room.message", { msgtype: "m.text", body: `follow ${JOE}` });
    const feed = await eventually(
      "the feed room",
      async () => (await w().bridge.handle.store.feeds.roomOf(user().userId, JOE))?.roomId,
      60_000,
    );
    await user().acceptInvite(feed);

    for (const body of ["a public post", "a group post with a picture"]) {
      const e = await user().waitForEvent(
        feed,
        (x) => x.getSender() === JOE_GHOST && x.getContent().body === body,
        60_000,
      );
      assert.equal(e.getWireType(), "m.room.encrypted", `"${body}" came in the clear`);
      const shield = await user().shieldOf(e);
      assert.deepEqual(shield, NO_SHIELD, `"${body}" shows ${describeShield(shield)}`);
      if (body.startsWith("a group post")) {
        assert.equal(e.getContent().msgtype, "m.image");
        assert.deepEqual(Buffer.from(await user().downloadAttachment(e)), pngBytes("lake"));
        await user().sendReply(feed, e.getId()!, "Beautiful");
      }
    }
    const rec = w().person(JOE).rec;
    const reply = await eventually("Joe to get the reply", () =>
      rec.messages.find((m) => m.content.type === "text" && m.content.body === "Beautiful"),
    );
    assert.deepEqual(reply.content.type === "text" && reply.content.in_reply_to_post, {
      author: JOE,
      post_id: g.id,
    });
  });
});
