// A contact who moves, seen from Matrix: Alice (matrix-js-sdk, real Synapse)
// has a DM portal with joe@other.test; Joe moves to joe@third.test (a third
// real People server). The portal continues in the same room under Joe's new
// ghost, with a line saying he moved (checked with his account key), and the
// conversation goes on both ways. Then Carol, a Matrix user, moves the address
// the bridge made for her (carol@people.test) to carol@third.test with `move`
// in her management room (third.test takes registrations with an invite only):
// Ann (a People CLI on other.test) and Alice (Matrix) follow with no warning,
// and every conversation goes on in its room. The tests run in order and share
// the rooms.
import assert from "node:assert/strict";
import { join } from "node:path";
import { Preset, type MatrixEvent } from "matrix-js-sdk";
import { PeopleClient } from "../../src/people/client/people-client.js";
import {
  eventually,
  isBotReplyTo,
  waitForTimelineEvent,
  type MatrixUser,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf } from "../helpers/bridge-world.js";
import { Recorder, clientOptions, tempDir } from "../helpers/client-fixtures.js";
import { startTestServer, type TestServer } from "../helpers/people-servers.js";
import { freePort } from "../helpers/ports.js";

const THIRD = "third.test";
const OLD = `joe@${OTHER}`;
const NEW = `joe@${THIRD}`;
const BOT = "@peoplebot:localhost";
const ANN = `ann@${OTHER}`;
const CAROL_OLD = `carol@${PEOPLE_DOMAIN}`;
const CAROL_NEW = `carol@${THIRD}`;
/** third.test's registration token (mode "token"): `move` must be given it. */
const INVITE = "third-invite-0123456789abcdef";
type Json = Record<string, unknown>;

describe("a contact's move, in Matrix", function () {
  this.timeout(120_000);
  let third: TestServer | undefined;
  let world: BridgeWorld | undefined;
  let alice: MatrixUser;
  let joe: { client: PeopleClient; rec: Recorder } | undefined;
  let ann: { client: PeopleClient; rec: Recorder } | undefined;
  let carol: MatrixUser;
  let portal: string;
  const management: Record<string, string> = {};
  /** Ann's view of Carol: the moves she followed and any key warning about her. */
  const annSaw: { moved: { from: string; to: string }[]; warnings: string[] } = { moved: [], warnings: [] };

  const content = (e: MatrixEvent): Json => e.getContent() as Json;
  const texts = () => joe!.rec.messages.map((m) => (m.content.type === "text" ? m.content.body : ""));

  async function send(roomId: string, body: string, who: MatrixUser = alice): Promise<string> {
    const client = who.client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    return (await client.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body })).event_id;
  }

  async function openManagement(who: MatrixUser): Promise<string> {
    const { room_id: roomId } = await who.client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [BOT],
      is_direct: true,
    });
    await waitForTimelineEvent(who.client, roomId, (e) => e.getSender() === BOT, 60_000);
    management[who.userId] = roomId;
    return roomId;
  }

  async function command(who: MatrixUser, body: string): Promise<string> {
    const roomId = management[who.userId] ?? (await openManagement(who));
    const id = await send(roomId, body, who);
    const reply = await waitForTimelineEvent(who.client, roomId, isBotReplyTo(BOT, id), 60_000);
    return String(content(reply).body);
  }

  /** The DM portal of `who` with `address`, joined. */
  async function joinPortal(who: MatrixUser, address: string): Promise<string> {
    const roomId = await eventually(
      `the portal of ${who.userId} with ${address}`,
      async () => (await world!.bridge.handle.store.portals.byPair(who.userId, address))?.roomId,
      60_000,
    );
    await eventually(
      "the invite",
      () => {
        const m = who.client.getRoom(roomId)?.getMember(who.userId)?.membership;
        return m === "invite" || m === "join" ? true : undefined;
      },
      60_000,
    );
    if (who.client.getRoom(roomId)?.getMember(who.userId)?.membership === "invite")
      await who.client.joinRoom(roomId);
    return roomId;
  }

  const managementOf = (who: MatrixUser, roomId: string) => (management[who.userId] = roomId);
  /** A text Carol's bridge-made account holds (what reached it, whatever became of it in Matrix). */
  const carolRead = async (body: string) =>
    (await world!.bridge.handle.accounts.clientOf(carol.userId)!.inbox()).find(
      (m) => m.content.type === "text" && m.content.body === body,
    );
  const annTexts = () => ann!.rec.messages.filter((m) => m.content.type === "text");

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    const thirdPort = await freePort();
    third = await startTestServer(THIRD, {
      config: {
        listen: { host: "127.0.0.1", port: thirdPort },
        registration: { mode: "token", tokens: [INVITE] },
      },
    });
    const thirdCa = join(third.dataDir, "tls", "dev-cert.pem");
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user", "@carol:localhost": "user" },
      configure: (i) => ({
        ...i,
        people: {
          ...i.people!,
          discovery: {
            pins: { ...i.people!.discovery!.pins, [THIRD]: `127.0.0.1:${thirdPort}` },
            ca_files: [...(i.people!.discovery!.ca_files ?? []), thirdCa],
          },
        },
      }),
    });
    const w = world;
    const network = {
      pins: {
        [OTHER]: `127.0.0.1:${w.other.handle.port}`,
        [THIRD]: `127.0.0.1:${thirdPort}`,
        [PEOPLE_DOMAIN]: `127.0.0.1:${w.input.people!.listen!.port}`,
      },
      ca: [w.other.handle.certificate, third.handle.certificate, w.bridge.handle.people.certificate],
    };
    const client = await PeopleClient.create({ ...clientOptions(network, tempDir("joe")), address: OLD });
    joe = { client, rec: new Recorder(client) };
    await client.start();
    alice = await w.startMatrixUser("alice");
    const annClient = await PeopleClient.create({ ...clientOptions(network, tempDir("ann")), address: ANN });
    ann = { client: annClient, rec: new Recorder(annClient) };
    annClient.on("contactMoved", (e) => annSaw.moved.push({ from: e.from, to: e.to }));
    annClient.on("keyChange", (e) => annSaw.warnings.push(`${e.kind} ${e.subject} ${e.code}`));
    annClient.on("moveRefused", (e) => annSaw.warnings.push(`move refused ${e.from} ${e.code}`));
    await annClient.start();
    carol = await w.startMatrixUser("carol");
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed" && world?.bridge)
      for (const l of world.bridge.logs.lines
        .filter((l) => l.level >= 30 && /alice|carol|portal|refus|hold/i.test(JSON.stringify(l)))
        .slice(-40))
        console.error(JSON.stringify(l).slice(0, 400));
  });

  after(async function () {
    this.timeout(120_000);
    await joe?.client.close();
    await ann?.client.close();
    await world?.stop();
    await third?.stop();
  });

  it("Alice talks with joe@other.test in a DM portal", async function () {
    const { room_id: management } = await alice.client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [BOT],
      is_direct: true,
    });
    await waitForTimelineEvent(alice.client, management, (e) => e.getSender() === BOT);
    managementOf(alice, management);
    const id = await send(management, `dm ${OLD}`);
    const reply = await waitForTimelineEvent(alice.client, management, isBotReplyTo(BOT, id));
    assert.match(String(content(reply).body), /Started a direct chat/);
    portal = await eventually(
      "the portal",
      async () => (await world!.bridge.handle.store.portals.byPair(alice.userId, OLD))?.roomId,
    );
    await eventually("the invite", () =>
      alice.client.getRoom(portal)?.getMember(alice.userId)?.membership === "invite" ? true : undefined,
    );
    await alice.client.joinRoom(portal);
    await send(portal, "hello joe");
    await eventually("Joe reads Alice", () => (texts().includes("hello joe") ? true : undefined));
  });

  it("Joe moves: the same room continues under his new ghost, with the line saying so", async function () {
    const moved = await joe!.client.move(NEW, { invite: INVITE });
    assert.equal(moved.to, NEW);
    const line = await waitForTimelineEvent(
      alice.client,
      portal,
      (e) =>
        e.getSender() === ghostOf(NEW) &&
        content(e).msgtype === "m.notice" &&
        String(content(e).body).includes(`${OLD} moved to ${NEW} (verified with their account key)`),
      90_000,
    );
    assert.doesNotMatch(String(content(line).body), /WARNING/);
    assert.equal((await world!.bridge.handle.store.portals.byPair(alice.userId, NEW))?.roomId, portal);
    await eventually("the new ghost in the room", () =>
      alice.client.getRoom(portal)?.getMember(ghostOf(NEW))?.membership === "join" ? true : undefined,
    );
  });

  it("the conversation goes on both ways in the same room", async function () {
    await joe!.client.sendText([`alice@${PEOPLE_DOMAIN}`], "hello from third.test");
    await waitForTimelineEvent(
      alice.client,
      portal,
      (e) => e.getSender() === ghostOf(NEW) && content(e).body === "hello from third.test",
      60_000,
    );
    await send(portal, "welcome to third");
    await eventually("Joe reads Alice at his new address", () =>
      texts().includes("welcome to third") ? true : undefined,
    );
    const m = joe!.rec.messages.find(
      (x) => x.content.type === "text" && x.content.body === "welcome to third",
    )!;
    assert.deepEqual(m.to, [NEW]);
  });

  it("Carol talks from her bridge-made address with Ann (CLI) and Alice (Matrix)", async function () {
    assert.match(await command(carol, `dm ${ANN}`), /Started a direct chat/);
    const withAnn = await joinPortal(carol, ANN);
    await send(withAnn, "carol to ann", carol);
    await eventually("Ann reads Carol", () => annTexts().find((m) => m.from === CAROL_OLD), 60_000);
    await ann!.client.sendText([CAROL_OLD], "ann to carol");
    await waitForTimelineEvent(carol.client, withAnn, (e) => content(e).body === "ann to carol", 60_000);

    assert.match(await command(alice, `dm ${CAROL_OLD}`), /Started a direct chat/);
    const aliceWithCarol = await joinPortal(alice, CAROL_OLD);
    await send(aliceWithCarol, "alice to carol");
    // Two users of one bridge share its message map, so Carol's copy is not shown in a room of hers:
    // her account reading it is what counts here.
    await eventually("Carol's account reads Alice", () => carolRead("alice to carol"), 60_000);
  });

  it("Carol moves with `move` in her management room; Ann and Alice follow with no warning", async function () {
    assert.match(await command(carol, "move not-an-address"), /not a People address/);
    assert.match(await command(carol, `move ${CAROL_OLD}`), /is your address already/);
    // third.test wants an invite: refused, nothing moved.
    assert.match(
      await command(carol, `move ${CAROL_NEW}`),
      /Moving `carol@people\.test` to `carol@third\.test`/,
    );
    await waitForTimelineEvent(
      carol.client,
      management[carol.userId]!,
      (e) => e.getSender() === BOT && /wants an invite code/.test(String(content(e).body)),
      90_000,
    );
    assert.equal(world!.bridge.handle.accounts.clientOf(carol.userId)?.address, CAROL_OLD);

    await command(carol, `move ${CAROL_NEW} ${INVITE}`);
    const done = await waitForTimelineEvent(
      carol.client,
      management[carol.userId]!,
      (e) => e.getSender() === BOT && String(content(e).body).startsWith("Moved"),
      90_000,
    );
    assert.match(String(content(done).body), /Moved `carol@people\.test` to `carol@third\.test`/);
    assert.equal(world!.bridge.handle.accounts.clientOf(carol.userId)?.address, CAROL_NEW);
    assert.match(await command(carol, "accounts"), /`carol@third\.test` \(made by the bridge\)/);

    await eventually("Ann follows Carol's move", () => annSaw.moved.find((m) => m.to === CAROL_NEW), 90_000);
    assert.deepEqual(
      annSaw.moved.filter((m) => m.to === CAROL_NEW),
      [{ from: CAROL_OLD, to: CAROL_NEW }],
    );
    assert.deepEqual(annSaw.warnings, [], "no key warning at Ann");

    const aliceWithCarol = await eventually(
      "Alice's portal now with carol@third.test",
      async () => (await world!.bridge.handle.store.portals.byPair(alice.userId, CAROL_NEW))?.roomId,
      90_000,
    );
    const line = await waitForTimelineEvent(
      alice.client,
      aliceWithCarol,
      (e) =>
        e.getSender() === ghostOf(CAROL_NEW) &&
        String(content(e).body).includes(
          `${CAROL_OLD} moved to ${CAROL_NEW} (verified with their account key)`,
        ),
      90_000,
    );
    assert.doesNotMatch(String(content(line).body), /WARNING/);
  });

  it("after Carol's move every conversation goes on in its room, as carol@third.test", async function () {
    const withAnn = (await world!.bridge.handle.store.portals.byPair(carol.userId, ANN))!.roomId;
    await ann!.client.sendText([CAROL_NEW], "ann after the move");
    await waitForTimelineEvent(
      carol.client,
      withAnn,
      (e) => e.getSender() === ghostOf(ANN) && content(e).body === "ann after the move",
      60_000,
    );
    await send(withAnn, "carol after the move", carol);
    const atAnn = await eventually(
      "Ann reads Carol at her new address",
      () => annTexts().find((m) => m.content.type === "text" && m.content.body === "carol after the move"),
      60_000,
    );
    assert.equal(atAnn.from, CAROL_NEW);

    const aliceWithCarol = (await world!.bridge.handle.store.portals.byPair(alice.userId, CAROL_NEW))!.roomId;
    await send(aliceWithCarol, "alice after the move");
    const read = await eventually(
      "Carol's account reads Alice at her new address",
      () => carolRead("alice after the move"),
      60_000,
    );
    assert.deepEqual(read.to, [CAROL_NEW]);
    await world!.bridge.handle.accounts
      .clientOf(carol.userId)!
      .sendText([`alice@${PEOPLE_DOMAIN}`], "carol to alice after the move");
    await waitForTimelineEvent(
      alice.client,
      aliceWithCarol,
      (e) => e.getSender() === ghostOf(CAROL_NEW) && content(e).body === "carol to alice after the move",
      60_000,
    );
  });

  it("after a restart of the bridge Carol is still carol@third.test, and her mail still arrives", async function () {
    await world!.stopBridge();
    await world!.startBridge();
    await world!.bridge.handle.accounts.accountFor(carol.userId);
    assert.equal(world!.bridge.handle.accounts.clientOf(carol.userId)?.address, CAROL_NEW);
    const withAnn = (await world!.bridge.handle.store.portals.byPair(carol.userId, ANN))!.roomId;
    await ann!.client.sendText([CAROL_NEW], "ann after the restart");
    await waitForTimelineEvent(
      carol.client,
      withAnn,
      (e) => e.getSender() === ghostOf(ANN) && content(e).body === "ann after the restart",
      90_000,
    );
  });
});
