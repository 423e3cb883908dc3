// A People group conversation bridged into an encrypted room with two Matrix
// users, against the real thing: Synapse with the appservice's to-device and
// device-list extensions, the bridge with encryption.allow and default, a
// second People server with Joe, Ann and Carl, and Alice and Bob on Element X
// (matrix-js-sdk with Rust crypto, cross-signed; Bob excludes insecure
// devices). Every check of what a Matrix user sees is the client's own view
// of the event: decrypted, sent by a device its owner verified (no shield),
// and there once. The tests run in order and share the room.
import assert from "node:assert/strict";
import type { MatrixEvent } from "matrix-js-sdk";
import type { ReceivedMessage } from "../../src/people/client/receiver.js";
import { eventually, matrixApi, type TestBridge } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf, keyOf, textIs } from "../helpers/bridge-world.js";
import { ElementXClient, NO_SHIELD, describeShield } from "../helpers/element-x-client.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const BOB_PEOPLE = `bob@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const ANN = `ann@${OTHER}`;
const CARL = `carl@${OTHER}`;

type Json = Record<string, unknown>;

const sorted = (xs: readonly string[]) => [...xs].sort();
/** How long a step may take on a machine busy with other work (CI, CPU hogs). */
const LOADED_MS = 60_000;

describe("a People group conversation in an encrypted room with two Element X users", function () {
  this.timeout(180_000);
  let world: BridgeWorld | undefined;
  let alice: ElementXClient | undefined;
  let bob: ElementXClient | undefined;
  let room: string;

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const running = (): TestBridge => started().bridge;
  const userA = (): ElementXClient => alice ?? assert.fail("alice not logged in");
  const userB = (): ElementXClient => bob ?? assert.fail("bob not logged in");
  const client = (address: string) => started().person(address).client;

  before(async function () {
    this.timeout(900_000); // the first run installs Synapse
    world = await BridgeWorld.start({
      permissions: { localhost: "user" },
      configure: (input) => ({ ...input, encryption: { allow: true, default: true } }),
    });
    for (const address of [JOE, ANN, CARL]) await world.startPeopleUser(address);
    alice = await ElementXClient.register(world.hs, "alice");
    bob = await ElementXClient.register(world.hs, "bob", { excludeInsecureDevices: true });
    // Both Matrix users have their People accounts (made on first use, as the `dm` command would).
    await running().handle.accounts.accountFor(alice.userId);
    await running().handle.accounts.accountFor(bob.userId);
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed") world?.printBridgeWarnings();
  });

  after(async function () {
    this.timeout(60_000);
    alice?.stop();
    bob?.stop();
    await world?.stop();
  });

  // --- helpers -------------------------------------------------------------

  const received = (address: string, match: (m: ReceivedMessage) => boolean) =>
    started().received(address, match);
  const copies = (address: string, body: string) =>
    started().person(address).rec.messages.filter(textIs(body)).length;

  /** The event as `user` sees it: decrypted, from `sender`, with this body; asserts it came encrypted with no shield. */
  async function seesFrom(user: ElementXClient, sender: string, body: string): Promise<MatrixEvent> {
    const e = await user.waitForEvent(
      room,
      (x) => x.getSender() === sender && x.getContent().body === body,
      LOADED_MS,
    );
    assert.equal(e.getWireType(), "m.room.encrypted", `${user.userId} got "${body}" in the clear`);
    const shield = await user.shieldOf(e);
    assert.deepEqual(shield, NO_SHIELD, `${user.userId} sees "${body}" with ${describeShield(shield)}`);
    return e;
  }

  /** How many decrypted events with this body `user`'s timeline holds. */
  function timelineCopies(user: ElementXClient, body: string): number {
    const events = user.client.getRoom(room)?.getLiveTimeline().getEvents() ?? [];
    return events.filter((e) => !e.isDecryptionFailure() && e.getContent().body === body).length;
  }

  async function joined(): Promise<string[]> {
    const members = await matrixApi(
      started().hs,
      userA().accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/joined_members`,
    );
    return Object.keys(members.joined as Json).sort();
  }

  async function currentSet(): Promise<string[]> {
    const group = await running().handle.store.groups.byRoom(room);
    return (group?.members ?? []).map((m) => m.address);
  }

  // --- the tests -------------------------------------------------------------

  it("Joe writes to Alice, Bob and Ann: one encrypted room with both ghosts; both users read it, no shield", async function () {
    this.timeout(4 * LOADED_MS);
    const sent = await client(JOE).sendText([ALICE_PEOPLE, BOB_PEOPLE, ANN], "hello encrypted group");
    // Two ghosts' devices and an encrypted room first: on a busy machine that takes a while.
    const group = await eventually(
      "the group portal",
      () => running().handle.store.groups.bySetKey(keyOf(JOE, ANN, ALICE_PEOPLE, BOB_PEOPLE)),
      LOADED_MS,
    );
    room = group.roomId;
    // acceptInvite waits until the client sees the room as encrypted.
    await userA().acceptInvite(room);
    await userB().acceptInvite(room);
    const encryption = await matrixApi(
      started().hs,
      userA().accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/state/m.room.encryption/`,
    );
    assert.equal(encryption.algorithm, "m.megolm.v1.aes-sha2");
    // The room is recorded before the invited ghosts join: wait for Ann's ghost rather than read at once.
    const everyone = sorted([ghostOf(JOE), ghostOf(ANN), userA().userId, userB().userId]);
    const members = await eventually(
      "both ghosts and both users to be joined",
      async () => {
        const now = await joined();
        return now.length === everyone.length ? now : undefined;
      },
      LOADED_MS,
    );
    assert.deepEqual(members, everyone);
    assert.deepEqual(await currentSet(), sorted([ALICE_PEOPLE, ANN, BOB_PEOPLE, JOE]));

    // Shields are computed from the keys the reader downloaded: wait until it has the ghosts' signatures.
    for (const user of [userA(), userB()])
      for (const ghost of [ghostOf(JOE), ghostOf(ANN)])
        await user.waitForAllDevicesSignedByOwner(ghost, LOADED_MS);
    for (const user of [userA(), userB()]) {
      const e = await seesFrom(user, ghostOf(JOE), "hello encrypted group");
      assert.equal((await running().handle.store.messages.byEvent(e.getId()!))?.peopleMessageId, sent);
    }
  });

  it("Alice answers: Joe and Ann each receive it once, addressed to the others", async function () {
    await userA().sendText(room, "alice to all");
    for (const address of [JOE, ANN]) {
      const m = await received(address, textIs("alice to all"));
      assert.equal(m.from, ALICE_PEOPLE);
      assert.deepEqual(sorted(m.to), sorted([JOE, ANN, BOB_PEOPLE]));
    }
    // Bob reads it in the room (from Alice's own device); his account's People copy is not brought back.
    await userB().waitForEvent(
      room,
      (x) => x.getSender() === userA().userId && x.getContent().body === "alice to all",
      LOADED_MS,
    );
  });

  it("Bob (exclude insecure devices) answers: Joe and Ann each receive it once", async function () {
    await userB().sendText(room, "bob to all");
    for (const address of [JOE, ANN]) {
      const m = await received(address, textIs("bob to all"));
      assert.equal(m.from, BOB_PEOPLE);
      assert.deepEqual(sorted(m.to), sorted([JOE, ANN, ALICE_PEOPLE]));
    }
  });

  it("Ann answers everyone: Alice and Bob both decrypt it once, no shield", async function () {
    await client(ANN).sendText([ALICE_PEOPLE, BOB_PEOPLE, JOE], "ann here");
    for (const user of [userA(), userB()]) await seesFrom(user, ghostOf(ANN), "ann here");
    // Ann's message reached both bridged accounts; the room has it once, and earlier ones too.
    await eventually(
      "Joe to have Ann's message",
      () => (copies(JOE, "ann here") === 1 ? true : undefined),
      LOADED_MS,
    );
    for (const user of [userA(), userB()]) {
      for (const body of ["hello encrypted group", "alice to all", "bob to all", "ann here"])
        assert.equal(timelineCopies(user, body), 1, `${user.userId} has "${body}" once`);
    }
    for (const address of [JOE, ANN]) {
      assert.equal(copies(address, "alice to all"), 1);
      assert.equal(copies(address, "bob to all"), 1);
    }
    assert.equal(await running().handle.store.groups.count(), 1);
  });

  it("Alice invites Carl's ghost: it joins with its own signed device and Carl reads what follows", async function () {
    await userA().client.invite(room, ghostOf(CARL));
    await userA().waitForEvent(
      room,
      (e) =>
        e.getContent().msgtype === "m.notice" && /added carl@other\.test/.test(String(e.getContent().body)),
      LOADED_MS,
    );
    assert.deepEqual(
      await joined(),
      sorted([ghostOf(JOE), ghostOf(ANN), ghostOf(CARL), userA().userId, userB().userId]),
    );
    // Each client shares its room key with the devices it knows of the room's members.
    for (const user of [userA(), userB()])
      await user.waitForAllDevicesSignedByOwner(ghostOf(CARL), LOADED_MS);
    const welcome = await userB().sendText(room, "welcome carl");
    const m = await received(CARL, textIs("welcome carl"));
    assert.equal(m.from, BOB_PEOPLE);
    assert.deepEqual(sorted(m.to), sorted([JOE, ANN, CARL, ALICE_PEOPLE]));
    // The bridge decrypts with whichever ghost holds the key: check that Carl's own device got it.
    const raw = await matrixApi(
      started().hs,
      userA().accessToken,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/event/${encodeURIComponent(welcome)}`,
    );
    assert.equal(raw.type, "m.room.encrypted");
    const manager = (running().handle.e2b ?? assert.fail("no e2b")).manager;
    const plain = await eventually(
      "Carl's ghost to decrypt Bob's message",
      () =>
        manager
          .with(ghostOf(CARL), (carl) => carl.decrypt(raw, room))
          .then(
            (d) => JSON.parse(d.event) as { content: Json },
            () => undefined,
          ),
      LOADED_MS,
    );
    assert.equal(plain.content.body, "welcome carl");
    await client(CARL).sendText([ALICE_PEOPLE, BOB_PEOPLE, JOE, ANN], "carl here");
    for (const user of [userA(), userB()]) await seesFrom(user, ghostOf(CARL), "carl here");
  });
});
