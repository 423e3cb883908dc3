// Ghost profiles (and, below, thumbnails and metrics) against the real thing:
// a real Synapse, the bridge with its embedded People server (people.test), a
// second real People server (other.test) with Joe as a PeopleClient, and
// Alice as an Element-like matrix-js-sdk user. The tests run in order and
// share the portal.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { MatrixEvent } from "matrix-js-sdk";
import type { PeopleClient } from "../../src/people/client/people-client.js";
import {
  eventually,
  waitForTimelineEvent,
  type MatrixUser,
  type TestBridge,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN } from "../helpers/bridge-world.js";
import type { Recorder } from "../helpers/client-fixtures.js";
import type { MessageContent } from "../../src/people/protocol/messages.js";
import { pngBytes as png } from "../helpers/images.js";
import { roomRest } from "../helpers/room-rest.js";
import type { SynapseHandle } from "../helpers/synapse.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const JOE_GHOST = "@_people_joe=40other.test:localhost";

type Json = Record<string, unknown>;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Bytes that start like a PNG, different per seed (3000 after the header unless told). */
const pngBytes = (seed: string, size = 3000): Buffer => png(seed, size);

describe("Bridge extras on a real Synapse: ghost profiles, thumbnails, metrics", function () {
  this.timeout(180_000); // generous: Synapse on a busy 2-core machine; every wait ends when its condition holds
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let joe: PeopleClient | undefined;
  let joeRec: Recorder;
  let portal: string;

  const running = (): TestBridge => world?.bridge ?? assert.fail("bridge not started");
  const synapse = (): SynapseHandle => world?.hs ?? assert.fail("synapse not started");
  const user = (): MatrixUser => alice ?? assert.fail("alice not logged in");
  const joeClient = (): PeopleClient => joe ?? assert.fail("joe not started");

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user" },
      // Short, so a name change shows up within the test.
      configure: (input) => ({ ...input, bridge: { ...input.bridge, profile_refresh_interval: "1s" } }),
    });
    ({ client: joe, rec: joeRec } = await world.startPeopleUser(JOE));
    alice = await world.startMatrixUser("alice");
    // Alice's People account, as the `dm` command or an invite would make it.
    await running().handle.accounts.accountFor(alice.userId);
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  const content = (e: MatrixEvent): Json => e.getContent() as Json;

  const rest = roomRest(synapse, () => user().accessToken);

  /** Joe's message reaches Alice's client, in the portal (joined when it is new). */
  async function joeSays(body: string): Promise<MatrixEvent> {
    await joeClient().sendText([ALICE_PEOPLE], body);
    if (!portal) portal = await world!.joinDmPortal(user(), JOE);
    return waitForTimelineEvent(
      user().client,
      portal,
      (e) => e.getSender() === JOE_GHOST && content(e).body === body,
    );
  }

  const avatar = pngBytes("joe's face");

  it("shows Joe's People name and avatar on his ghost", async function () {
    await joeClient().profile.set({
      display_name: "Joe Smith",
      avatar: { bytes: avatar, mime: "image/png" },
    });
    await joeSays("hello from joe");

    const member = await eventually("Alice's client to see Joe's name", () => {
      const m = user().client.getRoom(portal)?.getMember(JOE_GHOST);
      return m?.name === "Joe Smith (People)" ? m : undefined;
    });
    const profile = await user().client.getProfileInfo(JOE_GHOST);
    assert.equal(profile.displayname, "Joe Smith (People)");
    const mxc = profile.avatar_url ?? assert.fail("the ghost has no avatar");
    assert.match(mxc, /^mxc:\/\/localhost\//);
    assert.equal(member.getMxcAvatarUrl(), mxc);
    assert.deepEqual(await rest.download(mxc), avatar);

    const record = await running().handle.store.ghostProfiles.get(JOE);
    assert.equal(record?.avatarMxc, mxc);
    assert.equal(record?.avatarHash, createHash("sha256").update(avatar).digest("base64url"));
  });

  it("shows a name change; an unchanged avatar is not uploaded again", async function () {
    const before = await running().handle.store.ghostProfiles.get(JOE);
    await joeClient().profile.set({ display_name: "Joseph Smith" });
    await sleep(1_100); // past profile_refresh_interval: the next sight of the ghost refreshes it
    await joeSays("joe again");
    await eventually("Alice's client to see the new name", () =>
      user().client.getRoom(portal)?.getMember(JOE_GHOST)?.name === "Joseph Smith (People)"
        ? true
        : undefined,
    );
    const profile = await user().client.getProfileInfo(JOE_GHOST);
    assert.equal(profile.displayname, "Joseph Smith (People)");
    assert.equal(profile.avatar_url, before?.avatarMxc);
    const after = await running().handle.store.ghostProfiles.get(JOE);
    assert.equal(after?.avatarMxc, before?.avatarMxc);
    assert.ok((after?.fetchedAt ?? 0) > (before?.fetchedAt ?? 0));
  });

  it("a name that poses as a Matrix user is not used", async function () {
    await joeClient().profile.set({ display_name: "@admin:localhost" });
    await sleep(1_100);
    await joeSays("who am i");
    await eventually("the ghost's name to fall back to the address", async () =>
      (await running().handle.store.ghostProfiles.get(JOE))?.displayName === `${JOE} (People)`
        ? true
        : undefined,
    );
    assert.equal((await user().client.getProfileInfo(JOE_GHOST)).displayname, `${JOE} (People)`);
  });

  // --- thumbnails --------------------------------------------------------------

  it("Matrix → People: Alice's image arrives with its thumbnail, both decrypting to the same bytes", async function () {
    const full = pngBytes("alice full", 20_000);
    const thumb = pngBytes("alice thumb", 500);
    const url = await rest.upload(full, "image/png", "big.png");
    const thumbnailUrl = await rest.upload(thumb, "image/png", "thumb.png");
    const client = user().client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    await client.sendEvent(portal, "m.room.message", {
      msgtype: "m.image",
      body: "big.png",
      url,
      info: {
        mimetype: "image/png",
        size: full.length,
        w: 800,
        h: 600,
        thumbnail_url: thumbnailUrl,
        thumbnail_info: { mimetype: "image/png", size: thumb.length, w: 80, h: 60 },
      },
    });
    const m = await eventually("Joe to receive the image", () =>
      joeRec.messages.find((x) => x.content.type === "attachment" && x.content.blob.name === "big.png"),
    );
    const a = m.content as Extract<MessageContent, { type: "attachment" }>;
    assert.deepEqual(await joeClient().downloadAttachment(a.blob), full);
    const t = a.thumbnail ?? assert.fail("no thumbnail");
    assert.deepEqual(await joeClient().downloadAttachment(t), thumb);
    assert.deepEqual([t.mime, t.width, t.height, t.size], ["image/png", 80, 60, thumb.length]);
  });

  it("People → Matrix: Joe's image shows with a thumbnail whose bytes the homeserver serves", async function () {
    const full = pngBytes("joe full", 20_000);
    const thumb = pngBytes("joe thumb", 400);
    const blob = await joeClient().uploadAttachment(full, { mime: "image/png", name: "joe-big.png" });
    const thumbnail = await joeClient().uploadAttachment(thumb, { mime: "image/png" });
    await joeClient().send([ALICE_PEOPLE], {
      type: "attachment",
      blob,
      thumbnail: { ...thumbnail, width: 40, height: 30 },
    });
    const e = await waitForTimelineEvent(
      user().client,
      portal,
      (x) =>
        x.getSender() === JOE_GHOST && content(x).msgtype === "m.image" && content(x).body === "joe-big.png",
    );
    const info = content(e).info as Json;
    assert.deepEqual(await rest.download(String(content(e).url)), full);
    assert.deepEqual(await rest.download(String(info.thumbnail_url)), thumb);
    assert.deepEqual(info.thumbnail_info, { mimetype: "image/png", size: thumb.length, w: 40, h: 30 });
  });

  // --- metrics -----------------------------------------------------------------

  /** The bridge's /metrics, as a map of series (name with labels) to value. */
  async function scrape(): Promise<Map<string, number>> {
    const url = running().handle.metricsUrl ?? assert.fail("metrics not enabled");
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    const series = new Map<string, number>();
    for (const line of (await res.text()).split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      const at = line.lastIndexOf(" ");
      series.set(line.slice(0, at), Number(line.slice(at + 1)));
    }
    return series;
  }
  const value = (m: Map<string, number>, key: string) => m.get(key) ?? 0;

  it("/metrics counts messages each way, failures by reason, latency and the outbox; /health is ok", async function () {
    const before = await scrape();
    const client = user().client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    await client.sendEvent(portal, "m.room.message", { msgtype: "m.text", body: "counted" });
    await eventually("Joe to receive the counted text", () =>
      joeRec.messages.find((x) => x.content.type === "text" && x.content.body === "counted"),
    );
    await joeSays("counted back");
    // Not bridgeable: answered with a notice, and counted as a failure with its reason.
    await client.sendEvent(portal, "m.room.message", { msgtype: "org.example.hologram", body: "here" });

    const toPeople = 'bridge_messages_total{direction="to_people",kind="text"}';
    const toMatrix = 'bridge_messages_total{direction="to_matrix",kind="text"}';
    const unsupported = 'bridge_message_failures_total{direction="to_people",reason="unsupported_type"}';
    const peopleLatency = 'bridge_message_latency_seconds_count{direction="to_people"}';
    const matrixLatency = 'bridge_message_latency_seconds_count{direction="to_matrix"}';
    const after = await eventually("the counters to move", async () => {
      const m = await scrape();
      return value(m, unsupported) > value(before, unsupported) &&
        value(m, peopleLatency) > value(before, peopleLatency)
        ? m
        : undefined;
    });
    assert.equal(value(after, toPeople) - value(before, toPeople), 1);
    assert.equal(value(after, toMatrix) - value(before, toMatrix), 1);
    assert.equal(value(after, unsupported) - value(before, unsupported), 1);
    assert.ok(value(after, matrixLatency) > value(before, matrixLatency));
    // Everything was accepted by Joe's server: nothing waits in the outboxes.
    assert.equal(after.get("bridge_people_outbox_messages"), 0);
    // Earlier tests bridged attachments both ways.
    assert.ok(value(after, 'bridge_messages_total{direction="to_people",kind="attachment"}') >= 1);
    assert.ok(value(after, 'bridge_messages_total{direction="to_matrix",kind="attachment"}') >= 1);

    const health = await fetch(`${running().handle.metricsUrl!}/health`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as Json).ok, true);
  });
});
