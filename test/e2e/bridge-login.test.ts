// Logging the bridge in to a People address a user already has, and taking the
// bridge-made address to a user's own device, against the real thing: a real
// Synapse, the bridge with its People server (people.test), a second real People
// server (other.test) where Joe and Ann live, matrix-js-sdk as Element.
//  - Joe has a device on other.test (a PeopleClient, what `people` runs). He shows
//    a link code there and sends `login joe@other.test <code>` in his management
//    room: the bridge becomes a device of joe@other.test. Ann's mail reaches his
//    device and Element; his answer from Element is sent as joe@other.test and his
//    device sees its own sent copy; what he sends from his device shows in the
//    portal, marked. `logout` revokes the bridge's device and mail stops coming.
//  - Portals per own address: Ann writes to joe@people.test (made by the bridge) and to
//    joe@other.test (logged in): two portals, each answer sent as its own address;
//    `dm … --as` and `use` choose the address of new chats.
//  - Alice and Carol, both Matrix users with bridge-made addresses, DM each other:
//    each sees the other's message once (the message map is keyed by owner).
//  - Alice's `link-code` makes a new device of alice@people.test; she talks from
//    both, and each sees what the other sent.
// The tests run in order and share the rooms.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { Preset, type MatrixEvent } from "matrix-js-sdk";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import { loginDataDir } from "../../src/bridge/adapters/accounts/bridge-secret.js";
import { OWN_DEVICE_MARK } from "../../src/bridge/portals/own-copies.js";
import { HISTORY_MARK } from "../../src/bridge/portals/history-backfill.js";
import { sendHistory } from "../../src/people/client/history-transfer.js";
import {
  eventually,
  isBotReplyTo,
  roomMessages,
  waitForTimelineEvent,
  type MatrixUser,
  type TestBridge,
} from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf } from "../helpers/bridge-world.js";

const JOE = `joe@${OTHER}`;
const ANN = `ann@${OTHER}`;
const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const CAROL_PEOPLE = `carol@${PEOPLE_DOMAIN}`;
const JOE_MADE = `joe@${PEOPLE_DOMAIN}`;
const ALICE_CLI = "alice-cli";
const BOT = "@peoplebot:localhost";
const WAIT = 60_000;
/** Messages Joe and Ann exchanged before the bridge was a device of Joe's: more than the 50 handed over. */
const EARLIER = 55;
const earlier = (i: number) => `earlier ${String(i).padStart(2, "0")}`;

type Json = Record<string, unknown>;

describe("login, logout and link-code on a real Synapse", function () {
  this.timeout(180_000);
  let world: BridgeWorld | undefined;
  const users: Record<string, MatrixUser> = {};
  const management: Record<string, string> = {};
  const portals: Record<string, string> = {};

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const running = (): TestBridge => started().bridge;
  const user = (name: string): MatrixUser => users[name] ?? assert.fail(`${name} not started`);
  const content = (e: MatrixEvent): Json => e.getContent() as Json;
  const rec = (key: string) => started().person(key).rec;
  const textIs = (body: string) => (m: ReceivedMessage) =>
    m.content.type === "text" && m.content.body === body;

  async function received(key: string, match: (m: ReceivedMessage) => boolean): Promise<ReceivedMessage> {
    return eventually(`${key} to receive a matching message`, () => rec(key).messages.find(match), WAIT);
  }

  async function send(name: string, roomId: string, body: string): Promise<string> {
    const c = user(name).client as unknown as {
      sendEvent(room: string, type: string, content: Json): Promise<{ event_id: string }>;
    };
    return (await c.sendEvent(roomId, "m.room.message", { msgtype: "m.text", body })).event_id;
  }

  async function command(name: string, body: string): Promise<string> {
    const id = await send(name, management[name]!, body);
    const reply = await waitForTimelineEvent(
      user(name).client,
      management[name]!,
      isBotReplyTo(BOT, id),
      WAIT,
    );
    return String(content(reply).body);
  }

  /** A later notice of the bot (not a reply) matching `pattern`. */
  async function botSays(name: string, pattern: RegExp): Promise<string> {
    const e = await waitForTimelineEvent(
      user(name).client,
      management[name]!,
      (x) => x.getSender() === BOT && pattern.test(String(content(x).body)),
      WAIT,
    );
    return String(content(e).body);
  }

  async function openManagementRoom(name: string): Promise<void> {
    const { room_id: roomId } = await user(name).client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [BOT],
      is_direct: true,
    });
    management[name] = roomId;
    await waitForTimelineEvent(user(name).client, roomId, (e) => e.getSender() === BOT, WAIT);
  }

  async function joinPortal(name: string, address: string, owner?: string, key = name): Promise<string> {
    const roomId = await eventually(
      `the portal of ${name} with ${address}`,
      async () => (await running().handle.store.portals.byPair(user(name).userId, address, owner))?.roomId,
      WAIT,
    );
    await eventually(
      `${name}'s invite`,
      () => {
        const m = user(name).client.getRoom(roomId)?.getMember(user(name).userId)?.membership;
        return m === "invite" || m === "join" ? true : undefined;
      },
      WAIT,
    );
    if (user(name).client.getRoom(roomId)?.getMember(user(name).userId)?.membership === "invite") {
      await user(name).client.joinRoom(roomId);
    }
    portals[key] = roomId;
    return roomId;
  }

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { "@joe:localhost": "user", "@alice:localhost": "user", "@carol:localhost": "user" },
    });
    for (const address of [JOE, ANN]) await world.startPeopleUser(address);
    for (const name of ["joe", "alice", "carol"]) {
      users[name] = await world.startMatrixUser(name);
      await openManagementRoom(name);
    }
    // Joe chatted before: the bridge made joe@people.test for him, which he keeps beside his login.
    await running().handle.accounts.accountFor(user("joe").userId);
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed" && world?.bridge)
      for (const l of world.bridge.logs.lines.filter((l) => l.level >= 40))
        console.error(JSON.stringify(l).slice(0, 400));
  });

  after(async function () {
    this.timeout(60_000);
    await world?.stop();
  });

  it("refuses a login with a malformed address or code, and changes nothing", async function () {
    assert.match(await command("joe", "login"), /Usage: `login <address> <code>`/);
    assert.match(await command("joe", "login not-an-address abcd"), /not a People address/);
    assert.match(await command("joe", `login ${JOE} 1234`), /not a link code/);
    assert.deepEqual(await running().handle.store.logins.of(user("joe").userId), []);
  });

  it("Joe and Ann talk on People before the bridge is a device of his", async function () {
    const joe = started().person(JOE).client;
    const ann = started().person(ANN).client;
    for (let i = 1; i <= EARLIER; i++) {
      await (i % 2 ? ann.sendText([JOE], earlier(i)) : joe.sendText([ANN], earlier(i)));
    }
    await received(JOE, textIs(earlier(EARLIER)));
    await received(ANN, textIs(earlier(EARLIER - 1)));
  });

  it("Joe logs the bridge in to joe@other.test with a code from his own device", async function () {
    const joe = started().person(JOE).client;
    const offer = joe.createLinkCode();
    assert.match(
      await command("joe", `login ${JOE} ${offer.code}`),
      /Linking the bridge to `joe@other\.test`/,
    );
    const device = await offer.completed;
    assert.match(
      await botSays("joe", /^Logged in/),
      new RegExp(`device \`${device}\` of \`joe@other\\.test\``),
    );
    const devices = await joe.devices();
    assert.ok(
      devices.some((d) => d.device === device && d.revokedAt === null),
      "the bridge's device is listed",
    );
    assert.equal((await running().handle.store.logins.byAddress(JOE))?.matrixUser, user("joe").userId);
    // The bridge holds none of the earlier conversation yet: no portal with Ann.
    assert.equal(await running().handle.store.portals.byPair(user("joe").userId, ANN), undefined);
    const accounts = await command("joe", "accounts");
    assert.match(accounts, /`joe@other\.test` \(logged in, device `[^`]+`\): its own chats, and new chats/);
    assert.match(
      accounts,
      /`joe@people\.test` \(made by the bridge\): its own chats \(`use joe@people\.test`/,
    );
    assert.match(accounts, /from your address's ghost, marked/);
  });

  it("history transfer fills the portal with the last 50 earlier messages once, in order, at their times", async function () {
    const joe = started().person(JOE).client;
    const device = running().handle.accounts.logins?.byAddress(JOE)?.client.device ?? assert.fail("not open");
    const earlierBody = (body: unknown): string | undefined =>
      /^(?:↪ sent from another device: )?(earlier \d\d)$/.exec(String(body))?.[1];
    const handed = await sendHistory(joe, device);
    assert.equal(handed, 50, "the newest 50 of the conversation");
    // The bridge makes the portal for the history (Joe had none with Ann).
    const roomId = await joinPortal("joe", ANN, JOE);
    const inRoom = async () =>
      (await roomMessages(started().hs, user("joe").accessToken, roomId, 300))
        .reverse()
        .filter((e) => earlierBody((e.content as Json | undefined)?.body) !== undefined);
    const events = await eventually(
      "the earlier messages in the portal",
      async () => {
        const found = await inRoom();
        return found.length >= 50 ? found : undefined;
      },
      WAIT,
    );
    const wanted = Array.from({ length: 50 }, (_, i) => earlier(EARLIER - 49 + i));
    assert.deepEqual(
      events.map((e) => earlierBody((e.content as Json).body)),
      wanted,
    );
    // Each at the time it was written; what Joe wrote as his own ghost, marked; what Ann wrote as hers.
    const inbox = await joe.inbox();
    for (const e of events) {
      const body = earlierBody((e.content as Json).body)!;
      const original = inbox.find((m) => m.content.type === "text" && m.content.body === body)!;
      assert.equal(e.origin_server_ts, original.ts, `${body} keeps its time`);
      assert.equal(e.sender, ghostOf(original.from));
      assert.equal((e.content as Json)["org.people.history"], true);
    }
    const history = await roomMessages(started().hs, user("joe").accessToken, roomId, 300);
    assert.equal(
      history.filter((e) =>
        String((e.content as Json | undefined)?.body).startsWith(`${HISTORY_MARK} ${JOE}`),
      ).length,
      1,
    );
    // Handed again: nothing new in the room.
    const logged = () =>
      running().logs.lines.filter((l) => l.msg === "history from another device brought into the portals");
    const before = logged().length;
    await sendHistory(joe, device);
    const second = await eventually("the second transfer handled", () => logged()[before], WAIT);
    assert.equal((second as unknown as { bridged: number }).bridged, 0);
    assert.equal((await inRoom()).length, 50);
  });

  it("Ann's mail reaches Joe's device and Element; his answer from Element is sent as joe@other.test", async function () {
    await started().person(ANN).client.sendText([JOE], "hi Joe, it is Ann");
    await received(JOE, textIs("hi Joe, it is Ann"));
    const roomId = await joinPortal("joe", ANN);
    await waitForTimelineEvent(
      user("joe").client,
      roomId,
      (e) => e.getSender() === ghostOf(ANN) && content(e).body === "hi Joe, it is Ann",
      WAIT,
    );
    await send("joe", roomId, "hello Ann, from Element");
    const atAnn = await received(ANN, textIs("hello Ann, from Element"));
    assert.equal(atAnn.from, JOE);
    // Joe's own device sees what he sent from Element, as his own.
    const own = await received(JOE, textIs("hello Ann, from Element"));
    assert.equal(own.from, JOE);
  });

  it("what Joe sends from his device shows in the portal, marked, once", async function () {
    await started().person(JOE).client.sendText([ANN], "sent from my laptop");
    await received(ANN, textIs("sent from my laptop"));
    const roomId = portals.joe!;
    const e = await waitForTimelineEvent(
      user("joe").client,
      roomId,
      (x) => x.getSender() === ghostOf(JOE) && String(content(x).body).includes("sent from my laptop"),
      WAIT,
    );
    assert.equal(content(e).body, `${OWN_DEVICE_MARK} sent from my laptop`);
    const history = await roomMessages(started().hs, user("joe").accessToken, roomId, 100);
    const bodies = history.map((x) => (x.content as Json | undefined)?.body);
    assert.equal(bodies.filter((b) => String(b).includes("sent from my laptop")).length, 1);
    // What the bridge itself sent for Joe never comes back as a copy from another device.
    assert.equal(bodies.filter((b) => String(b).includes("hello Ann, from Element")).length, 1);
  });

  it("Ann writes to both of Joe's addresses: two portals, each answer sent as its own address", async function () {
    const other = portals.joe!;
    // The logged-in address's portal says, first thing, which address writes there.
    const first = await waitForTimelineEvent(
      user("joe").client,
      other,
      (e) => String(content(e).body).startsWith("You write here as"),
      WAIT,
    );
    assert.match(String(content(first).body), /You write here as `joe@other\.test`/);
    await started().person(ANN).client.sendText([JOE_MADE], "hi Joe at people.test");
    const made = await joinPortal("joe", ANN, JOE_MADE, "joeMade");
    assert.notEqual(made, other, "mail to the made address has its own portal");
    await waitForTimelineEvent(
      user("joe").client,
      made,
      (e) => e.getSender() === ghostOf(ANN) && content(e).body === "hi Joe at people.test",
      WAIT,
    );
    await send("joe", made, "answer from the made portal");
    assert.equal((await received(ANN, textIs("answer from the made portal"))).from, JOE_MADE);
    await send("joe", other, "answer from the other portal");
    assert.equal((await received(ANN, textIs("answer from the other portal"))).from, JOE);
    // Neither message shows in the other portal.
    const bodies = async (room: string) =>
      (await roomMessages(started().hs, user("joe").accessToken, room, 200)).map((e) =>
        String((e.content as Json | undefined)?.body),
      );
    assert.ok(!(await bodies(other)).includes("hi Joe at people.test"));
    assert.ok(!(await bodies(made)).includes("answer from the other portal"));
  });

  it("`dm … --as` opens a portal of the address given; `use` changes the default", async function () {
    assert.match(
      await command("joe", `dm ${ANN} --as ${JOE_MADE}`),
      new RegExp(`already have a direct chat with \`${ANN}\` \\(you write there as \`${JOE_MADE}\`\\)`),
    );
    await running().handle.accounts.accountFor(user("alice").userId); // alice@people.test exists
    assert.match(await command("joe", `dm ${ALICE_PEOPLE} --as ${JOE}`), /Started a direct chat/);
    const withAlice = await running().handle.store.portals.byPair(user("joe").userId, ALICE_PEOPLE, JOE);
    assert.ok(withAlice, "a portal of joe@other.test with Alice");
    assert.equal(
      await running().handle.store.portals.byPair(user("joe").userId, ALICE_PEOPLE, JOE_MADE),
      undefined,
    );
    assert.match(await command("joe", "dm nobody --as x"), /not a People address/);
    assert.match(await command("joe", `use nobody@${OTHER}`), /You do not hold `nobody@other\.test`/);
    assert.match(
      await command("joe", `use ${JOE_MADE}`),
      /New chats and `dm` now write as `joe@people\.test`/,
    );
    assert.equal((await running().handle.accounts.accountFor(user("joe").userId)).address, JOE_MADE);
    assert.match(
      await command("joe", "accounts"),
      /`joe@people\.test` \(made by the bridge\): its own chats, and new chats/,
    );
    assert.match(await command("joe", `use ${JOE}`), /now write as `joe@other\.test`/);
    assert.equal((await running().handle.accounts.accountFor(user("joe").userId)).address, JOE);
  });

  it("Alice and Carol, both on this bridge, each see the other's DM once", async function () {
    // Carol's bridge-made address exists once she has chatted (as Joe's did).
    await running().handle.accounts.accountFor(user("carol").userId);
    assert.match(await command("alice", `dm ${CAROL_PEOPLE}`), /Started a direct chat/);
    const aliceRoom = await joinPortal("alice", CAROL_PEOPLE, undefined, "aliceCarol");
    await send("alice", aliceRoom, "Carol, it is Alice");
    const carolRoom = await joinPortal("carol", ALICE_PEOPLE);
    await waitForTimelineEvent(
      user("carol").client,
      carolRoom,
      (e) => e.getSender() === ghostOf(ALICE_PEOPLE) && content(e).body === "Carol, it is Alice",
      WAIT,
    );
    await send("carol", carolRoom, "hello Alice, Carol here");
    await waitForTimelineEvent(
      user("alice").client,
      aliceRoom,
      (e) => e.getSender() === ghostOf(CAROL_PEOPLE) && content(e).body === "hello Alice, Carol here",
      WAIT,
    );
    const count = async (name: string, room: string, body: string) =>
      (await roomMessages(started().hs, user(name).accessToken, room, 100)).filter(
        (e) => (e.content as Json | undefined)?.body === body,
      ).length;
    assert.equal(await count("carol", carolRoom, "Carol, it is Alice"), 1);
    assert.equal(await count("alice", aliceRoom, "hello Alice, Carol here"), 1);
    assert.equal(await count("alice", aliceRoom, "Carol, it is Alice"), 1);
  });

  it("logout revokes the bridge's device; mail stops arriving in Element", async function () {
    const joe = started().person(JOE).client;
    const record = await running().handle.store.logins.byAddress(JOE);
    assert.ok(record);
    const device = running().handle.accounts.logins?.byAddress(JOE)?.client.device ?? assert.fail("not open");
    const answer = await command("joe", "logout");
    assert.match(
      answer,
      new RegExp(`Logged out of \`joe@other\\.test\`: the bridge's device \`${device}\` is revoked`),
    );
    assert.match(answer, /no longer arrives in Matrix/);
    const revoked = await eventually(
      "the bridge's device revoked in Joe's list",
      async () => (await joe.devices()).find((d) => d.device === device && d.revokedAt !== null),
      WAIT,
    );
    assert.ok(revoked);
    assert.equal(await running().handle.store.logins.byAddress(JOE), undefined);
    assert.equal(
      existsSync(loginDataDir(started().input.people!.data_dir!, user("joe").userId, JOE)),
      false,
      "the device's keys are erased",
    );
    // Ann's next mail is sealed to Joe's listed devices only: his laptop gets it, the portal does not.
    await started().person(ANN).client.sendText([JOE], "after the logout");
    await received(JOE, textIs("after the logout"));
    // An anchor after it, which Joe's Matrix side does get: mail to his bridge-made address, in its portal.
    await started()
      .person(ANN)
      .client.sendText([`joe@${PEOPLE_DOMAIN}`], "to the bridge-made address");
    const anchorRoom = portals.joeMade!;
    await eventually(
      "Ann's message to joe@people.test in the portal",
      async () => {
        const chunk = await roomMessages(started().hs, user("joe").accessToken, anchorRoom, 100);
        return chunk.some((x) => (x.content as Json | undefined)?.body === "to the bridge-made address")
          ? chunk
          : undefined;
      },
      WAIT,
    );
    for (const room of [anchorRoom, portals.joe!]) {
      const chunk = await roomMessages(started().hs, user("joe").accessToken, room, 100);
      assert.equal(
        chunk.filter((x) => (x.content as Json | undefined)?.body === "after the logout").length,
        0,
      );
    }
    assert.match(
      await command("joe", "accounts"),
      /`joe@people\.test` \(made by the bridge\): its own chats, and new chats/,
    );
  });

  it("Alice takes her bridge-made address to her own device and talks from both", async function () {
    const answer = await command("alice", "link-code");
    const code = /--code ([a-z2-7-]+)/.exec(answer)?.[1] ?? assert.fail(`no code in: ${answer}`);
    assert.match(answer, new RegExp(`people link ${ALICE_PEOPLE.replace(".", "\\.")} --code`));
    const cli = await started().linkPeopleUser(ALICE_PEOPLE, code, ALICE_CLI);
    assert.match(await botSays("alice", /^Device `/), new RegExp(`Device \`${cli.client.device}\` joined`));
    const devices = await cli.client.devices();
    assert.equal(devices.filter((d) => d.revokedAt === null).length, 2, "the bridge stays a device");

    assert.match(await command("alice", `dm ${ANN}`), /Started a direct chat/);
    const roomId = await joinPortal("alice", ANN);
    await send("alice", roomId, "Alice from Element");
    await received(ANN, textIs("Alice from Element"));
    const own = await received(ALICE_CLI, textIs("Alice from Element"));
    assert.equal(own.from, ALICE_PEOPLE);

    await cli.client.sendText([ANN], "Alice from her CLI");
    assert.equal((await received(ANN, textIs("Alice from her CLI"))).from, ALICE_PEOPLE);
    const e = await waitForTimelineEvent(
      user("alice").client,
      roomId,
      (x) =>
        x.getSender() === ghostOf(ALICE_PEOPLE) && String(content(x).body).includes("Alice from her CLI"),
      WAIT,
    );
    assert.equal(content(e).body, `${OWN_DEVICE_MARK} Alice from her CLI`);
    // Ann answers: both of Alice's devices get it.
    await started().person(ANN).client.sendText([ALICE_PEOPLE], "Ann to both");
    await received(ALICE_CLI, textIs("Ann to both"));
    await waitForTimelineEvent(user("alice").client, roomId, (x) => content(x).body === "Ann to both", WAIT);
  });
});
