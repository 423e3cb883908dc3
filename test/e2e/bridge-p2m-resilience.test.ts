// People → Matrix, nothing stalls behind one bad message, and no sender
// starves another (issue 16), against the real thing: a real Synapse, the
// bridge with its embedded People server, a second real People server
// (other.test) whose users Joe and Ann are PeopleClients, and Alice as a
// matrix-js-sdk user. The bridge reaches other.test (for blobs and keys)
// through a TCP proxy in this test, which can refuse connections for a while:
// the bridge's view of other.test going down, TLS untouched end to end.
//
// Each test prints its measured latency in a line starting with "MEASURED".
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { RoomEvent, type MatrixEvent, type Room } from "matrix-js-sdk";
import { b64u } from "../../src/people/protocol/bytes.js";
import type { BlobRef } from "../../src/people/protocol/messages.js";
import { eventually, roomMessages, type MatrixUser } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf } from "../helpers/bridge-world.js";
import { SwitchProxy } from "../helpers/switch-proxy.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const ANN = `ann@${OTHER}`;
/** Messages in the flood: sized for a 2-core machine shared with other runs. */
const FLOOD = 300;

type Json = Record<string, unknown>;

describe("People → Matrix: nothing stalls behind one bad message, and no sender starves another", function () {
  this.timeout(120_000);
  let world: BridgeWorld | undefined;
  let alice: MatrixUser | undefined;
  let proxy: SwitchProxy | undefined;
  /** What Alice's client saw arrive, in order. */
  const seen: { room: string; sender: string; body: string; msgtype: unknown }[] = [];
  const portals: Record<string, string> = {};

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const user = (): MatrixUser => alice ?? assert.fail("alice not logged in");
  const person = (address: string) => started().person(address).client;

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    proxy = await SwitchProxy.start();
    const p = proxy;
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user" },
      configure: (input) => {
        const discovery = input.people!.discovery!;
        p.target = Number(discovery.pins![OTHER]!.split(":")[1]);
        return {
          ...input,
          people: { ...input.people!, discovery: { ...discovery, pins: { [OTHER]: `127.0.0.1:${p.port}` } } },
        };
      },
      bridgeOptions: {
        peopleClient: {
          reconnect: { baseMs: 100, maxMs: 500 },
          backoff: { baseMs: 100, maxMs: 500 },
          deliveryRetry: { baseMs: 200, maxMs: 1000 },
        },
      },
    });
    for (const address of [JOE, ANN]) await world.startPeopleUser(address);
    alice = await world.startMatrixUser("alice");
    alice.client.on(RoomEvent.Timeline, (event: MatrixEvent, room: Room | undefined, toStart?: boolean) => {
      if (toStart || !room || event.getType() !== "m.room.message") return;
      const c = event.getContent() as Json;
      seen.push({
        room: room.roomId,
        sender: event.getSender() ?? "",
        body: String(c.body),
        msgtype: c.msgtype,
      });
    });
    // Alice's People account, made as the bot would on her first command.
    await world.bridge.handle.accounts.accountFor(alice.userId);
    for (const address of [JOE, ANN]) portals[address] = await openPortal(address);
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
    await proxy?.stop();
  });

  // --- helpers -------------------------------------------------------------

  /** The first message from `address` opens a portal; Alice joins it and sees the message. */
  async function openPortal(address: string): Promise<string> {
    await person(address).sendText([ALICE_PEOPLE], `hello from ${address}`);
    const handle = started().bridge.handle;
    const roomId = await eventually(
      `${address}'s portal`,
      async () => (await handle.store.portals.byPair(user().userId, address))?.roomId,
    );
    await eventually("the invite to reach Alice's client", () =>
      user().client.getRoom(roomId)?.getMyMembership() === "invite" ? true : undefined,
    );
    await user().client.joinRoom(roomId);
    await eventually(`hello from ${address} in the portal`, async () =>
      (await bodies(roomId)).includes(`hello from ${address}`) ? true : undefined,
    );
    return roomId;
  }

  /** The message bodies in a room, oldest first, as the homeserver serves them to Alice. */
  async function bodies(roomId: string, limit = 100): Promise<string[]> {
    const events = await roomMessages(started().hs, user().accessToken, roomId, limit);
    return events
      .filter((e) => e.type === "m.room.message")
      .map((e) => String((e.content as Json | undefined)?.body))
      .reverse();
  }

  /** Index in `seen` of the first arrival matching, once there is one. */
  function arrival(what: string, match: (s: (typeof seen)[number]) => boolean, timeoutMs = 60_000) {
    return eventually(
      what,
      () => {
        const i = seen.findIndex(match);
        return i >= 0 ? i : undefined;
      },
      timeoutMs,
    );
  }

  const count = (room: string, match: (body: string) => boolean) =>
    bodies(room).then((all) => all.filter(match).length);

  // --- the tests -------------------------------------------------------------

  it("an attachment whose blob does not exist: a notice once, and the honest messages behind it flow", async function () {
    const room = portals[JOE]!;
    const joeGhost = ghostOf(JOE);
    const id = b64u(randomBytes(32));
    const missing: BlobRef = {
      server: OTHER,
      id,
      key: b64u(randomBytes(32)),
      hash: id,
      mime: "image/png",
      size: 1234,
      name: "vanished.png",
    };
    await person(JOE).send([ALICE_PEOPLE], { type: "attachment", blob: missing, caption: "look at this" });
    const sentAt = Date.now();
    await person(JOE).sendText([ALICE_PEOPLE], "honest 1");
    const first = await arrival("honest 1", (s) => s.room === room && s.body === "honest 1");
    console.log(`MEASURED honest message right behind a missing blob: ${Date.now() - sentAt} ms`);
    for (const n of [2, 3]) {
      await person(JOE).sendText([ALICE_PEOPLE], `honest ${n}`);
      await arrival(`honest ${n}`, (s) => s.room === room && s.body === `honest ${n}`);
    }
    const isNotice = (s: (typeof seen)[number]) =>
      s.room === room && s.msgtype === "m.notice" && s.body.includes("vanished.png");
    const notice = await arrival("the notice", isNotice);
    const noticed = seen[notice]!;
    assert.equal(noticed.sender, joeGhost);
    assert.match(noticed.body, /joe@other\.test sent a file \(vanished\.png\) that could not be bridged/);
    assert.match(noticed.body, /could not be fetched/);
    // The caption is still bridged, before the notice; the honest message came behind both.
    const caption = seen.findIndex((s) => s.room === room && s.body === "look at this");
    assert.ok(caption >= 0 && caption < notice && notice < first, "caption, notice, then honest 1");

    // Nothing twice: a last message behind everything, then count what the room holds.
    await person(JOE).sendText([ALICE_PEOPLE], "after the bad one");
    await arrival("the last message", (s) => s.room === room && s.body === "after the bad one");
    assert.equal(await count(room, (b) => b.includes("vanished.png")), 1);
    assert.equal(await count(room, (b) => b === "look at this"), 1);
    for (const n of [1, 2, 3]) assert.equal(await count(room, (b) => b === `honest ${n}`), 1);
    const inbox = await started().bridge.handle.accounts.clientOf(user().userId)!.inbox();
    assert.ok(
      inbox.some((m) => m.content.type === "attachment"),
      "the bad message is kept in the inbox",
    );
  });

  it("a blob server that is down: that message alone is retried (across a restart) and arrives later, once; others flow meanwhile", async function () {
    const p = proxy!;
    const room = portals[JOE]!;
    const image = randomBytes(2048);
    const blob = await person(JOE).uploadAttachment(image, {
      mime: "application/octet-stream",
      name: "later.bin",
    });
    p.goDown();
    const refusedBefore = p.refused;
    const notices = () => seen.filter((s) => s.room === room && s.msgtype === "m.notice").length;
    const noticesBefore = notices();
    await person(JOE).send([ALICE_PEOPLE], { type: "attachment", blob });
    const sentAt = Date.now();
    await person(JOE).sendText([ALICE_PEOPLE], "while the blob server is down");
    await arrival("the honest message", (s) => s.room === room && s.body === "while the blob server is down");
    console.log(`MEASURED honest message right behind an unreachable blob: ${Date.now() - sentAt} ms`);
    await person(ANN).sendText([ALICE_PEOPLE], "ann meanwhile");
    await arrival("Ann's message", (s) => s.room === portals[ANN] && s.body === "ann meanwhile");
    // The attachment was tried, and is still pending: not in the room, no notice.
    await eventually("the bridge to try the blob server", () =>
      p.refused > refusedBefore ? true : undefined,
    );
    assert.equal(
      seen.some((s) => s.room === room && s.body === "later.bin"),
      false,
    );
    assert.equal(notices(), noticesBefore, "no notice: the failure is not permanent");

    // Set aside across a restart of the bridge: still undelivered in Alice's People inbox, tried again at start.
    await started().stopBridge();
    const refusedBeforeRestart = p.refused;
    await started().startBridge();
    await eventually("the bridge to try the blob again after its restart", () =>
      p.refused > refusedBeforeRestart ? true : undefined,
    );
    assert.equal(seen.filter((s) => s.room === room && s.body === "later.bin").length, 0);

    p.goUp();
    await arrival(
      "the attachment, once the blob server is back",
      (s) => s.room === room && s.body === "later.bin",
    );
    await person(JOE).sendText([ALICE_PEOPLE], "after the retry");
    await arrival("the last message", (s) => s.room === room && s.body === "after the retry");
    assert.equal(await count(room, (b) => b === "later.bin"), 1);
    assert.equal(await count(room, (b) => b === "while the blob server is down"), 1);
    assert.equal(notices(), noticesBefore);
  });

  it(`a flood of ${FLOOD} messages from Joe does not hold up Ann's message to Alice`, async function () {
    this.timeout(600_000);
    const joeRoom = portals[JOE]!;
    const annRoom = portals[ANN]!;
    const start = seen.length;
    for (let i = 1; i <= FLOOD; i++) await person(JOE).sendText([ALICE_PEOPLE], `flood ${i}`);
    // The whole flood is on Alice's server before Ann writes: her message is queued behind all of it.
    await eventually(
      "Joe's outbox to empty",
      async () => ((await person(JOE).outboxSize()) === 0 ? true : undefined),
      300_000,
    );
    const sentAt = Date.now();
    await person(ANN).sendText([ALICE_PEOPLE], "ann after the flood");
    const ann = await arrival(
      "Ann's message",
      (s) => s.room === annRoom && s.body === "ann after the flood",
      300_000,
    );
    const annMs = Date.now() - sentAt;
    const floodBefore = seen.slice(start, ann).filter((s) => s.room === joeRoom).length;
    console.log(
      `MEASURED Ann's message behind a flood of ${FLOOD}: ${annMs} ms, after ${floodBefore} of the flood`,
    );
    const last = await arrival(
      `flood ${FLOOD}`,
      (s) => s.room === joeRoom && s.body === `flood ${FLOOD}`,
      300_000,
    );
    console.log(`MEASURED the flood of ${FLOOD} drained ${Date.now() - sentAt} ms after Ann wrote`);
    assert.ok(ann < last, "Ann's message reached Alice before Joe's flood was drained");
    // Joe's own order is kept.
    const flood = seen.filter((s) => s.room === joeRoom && s.body.startsWith("flood ")).map((s) => s.body);
    assert.deepEqual(
      flood,
      Array.from({ length: FLOOD }, (_, i) => `flood ${i + 1}`),
    );
  });
});
