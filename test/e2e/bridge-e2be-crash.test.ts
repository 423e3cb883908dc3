// End-to-bridge encryption survives SIGKILL: the bridge runs as its real
// command in a child process with encryption.allow; Alice (Rust crypto, as
// Element X) and Joe (a second People server) write in an encrypted DM. The
// bridge is killed right after it received a new room key and bridged the
// message it opened; while it is down Alice writes more in that session and
// in a new one, and Joe writes too. After the restart everything is bridged
// exactly once, nothing is left undecryptable, and Alice's client trusts
// and decrypts what the ghost sends with its saved outbound session.
// (Synapse retries a failed transaction with its room events only: the room
// key of k-3 comes through the device's /sync catch-up.)
import assert from "node:assert/strict";
import { Preset, type MatrixEvent } from "matrix-js-sdk";
import { eventually, matrixApi, type BridgeProcess } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, type PeopleUser } from "../helpers/bridge-world.js";
import { shieldOf, startCryptoUser, type CryptoUser } from "../helpers/crypto-user.js";
import type { SynapseHandle } from "../helpers/synapse.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const JOE = `joe@${OTHER}`;
const JOE_GHOST = "@_people_joe=40other.test:localhost";

type Json = Record<string, unknown>;

describe("end-to-bridge encryption across a SIGKILL of the bridge", function () {
  this.timeout(180_000);
  let world: BridgeWorld | undefined;
  let alice: CryptoUser | undefined;
  let joe: PeopleUser | undefined;
  let dm: string;

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const synapse = (): SynapseHandle => started().hs;
  const user = (): CryptoUser => alice ?? assert.fail("alice not logged in");
  const people = () => joe ?? assert.fail("joe not started");
  const bridge = (): BridgeProcess => started().child;

  before(async function () {
    this.timeout(900_000);
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user" },
      configure: (input) => ({ ...input, encryption: { allow: true } }),
      childProcess: true,
    });
    joe = await world.startPeopleUser(JOE);
    alice = await startCryptoUser(world.hs, "alice");

    const { room_id: roomId } = await user().client.createRoom({
      preset: Preset.TrustedPrivateChat,
      invite: [JOE_GHOST],
      is_direct: true,
      initial_state: [
        { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
      ],
    });
    dm = roomId;
    await eventually("Joe's ghost to join", async () => {
      const members = await matrixApi(
        synapse(),
        user().accessToken,
        "GET",
        `/_matrix/client/v3/rooms/${encodeURIComponent(dm)}/joined_members`,
      );
      return JOE_GHOST in (members.joined as Json) ? true : undefined;
    });
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed" && world)
      for (const l of bridge().logs.filter(
        (l) => l.level >= 40 || /crypto|decrypt|key|transaction/i.test(l.msg),
      ))
        console.error(JSON.stringify(l).slice(0, 600));
  });

  after(async function () {
    this.timeout(60_000);
    alice?.client.stopClient();
    await world?.stop();
  });

  const joeBodies = (): string[] =>
    people()
      .rec.messages.filter((m) => m.from === ALICE_PEOPLE && m.content.type === "text")
      .map((m) => (m.content as { body: string }).body);

  const sendText = async (body: string) => (await user().client.sendTextMessage(dm, body)).event_id;

  function ghostEvents(): MatrixEvent[] {
    return (
      user()
        .client.getRoom(dm)
        ?.getLiveTimeline()
        .getEvents()
        .filter((e) => e.getSender() === JOE_GHOST && !e.isState()) ?? []
    );
  }

  async function decryptedFromGhost(body: string): Promise<MatrixEvent> {
    return eventually(
      `"${body}" from the ghost, decrypted`,
      () =>
        ghostEvents().find(
          (e) => !e.isBeingDecrypted() && !e.isDecryptionFailure() && e.getContent().body === body,
        ),
      60_000,
    );
  }

  it("decrypts everything after a SIGKILL right after a new room key, in both directions", async function () {
    // Both ways once: the ghost's outbound session exists and is saved.
    await people().client.sendText([ALICE_PEOPLE], "j-before");
    await decryptedFromGhost("j-before");

    // A new session: its key reaches the bridge with k-1; killed as soon as k-1 is bridged.
    await user().crypto.forceDiscardSession(dm);
    await sendText("k-1");
    await eventually("k-1 at Joe", () => (joeBodies().includes("k-1") ? true : undefined), 60_000);
    await bridge().kill("SIGKILL");

    // While the bridge is down: more in the same session, a new session, and Joe writes.
    await sendText("k-2");
    await user().crypto.forceDiscardSession(dm);
    await sendText("k-3");
    await people().client.sendText([ALICE_PEOPLE], "j-after");

    await bridge().start();
    await eventually(
      "k-2 and k-3 at Joe",
      () => (["k-2", "k-3"].every((b) => joeBodies().includes(b)) ? true : undefined),
      60_000,
    );
    const after = await decryptedFromGhost("j-after");
    await user().client.decryptEventIfNeeded(after);
    const shield = await shieldOf(user(), after);
    assert.ok(shield.encrypted && shield.none, `shield: ${String(shield.colour)} ${String(shield.reason)}`);

    // Nothing twice, nothing announced as undecryptable, no decryption failure on Alice's side.
    for (const b of ["k-1", "k-2", "k-3"]) assert.equal(joeBodies().filter((x) => x === b).length, 1, b);
    const events = ghostEvents();
    assert.ok(!events.some((e) => /could not decrypt/.test(String(e.getContent().body))));
    assert.ok(!events.some((e) => e.isDecryptionFailure()));
    assert.ok(!bridge().logs.some((l) => /one time key|already exists/i.test(JSON.stringify(l))));
  });
});
