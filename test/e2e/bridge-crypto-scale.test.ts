// Crypto machines that do not grow with the ghosts (issue 17): the bridge as
// its real command with encryption.max_machines 2, Alice (Rust crypto, as
// Element X) in six encrypted DMs with six People users on a second server.
// Messages in all six rooms decrypt and bridge both ways while the gauge
// bridge_crypto_machines_loaded (read from /metrics all along) never passes
// 2; a ghost evicted long ago decrypts again (its state reloaded from its
// rows); a device-list change of Bob, who is only in room 1, goes to one
// machine only (and Bob's new device then reads what that ghost sends); a
// SIGTERM stops the bridge within a bound that today's 10 s stop fails, and
// what was sent while it was down is bridged after the restart, once.
import assert from "node:assert/strict";
import { Preset, type MatrixEvent } from "matrix-js-sdk";
import { eventually, matrixApi, type BridgeProcess } from "../helpers/bridge-harness.js";
import { BridgeWorld, OTHER, PEOPLE_DOMAIN, ghostOf, type PeopleUser } from "../helpers/bridge-world.js";
import { loginCryptoDevice, startCryptoUser, type CryptoUser } from "../helpers/crypto-user.js";
import { freePort } from "../helpers/ports.js";

const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const N = 6;
const MAX = 2;
const joeOf = (i: number) => `joe${i}@${OTHER}`;

type Json = Record<string, unknown>;

describe("crypto machines bounded in memory (encryption.max_machines)", function () {
  this.timeout(300_000);
  let world: BridgeWorld | undefined;
  let alice: CryptoUser | undefined;
  let bob: CryptoUser | undefined;
  const joes: PeopleUser[] = [];
  const rooms: string[] = [];
  let metricsUrl = "";
  let maxSeen = 0;
  let polling = true;
  let poller: Promise<void> | undefined;

  const started = (): BridgeWorld => world ?? assert.fail("the world is not started");
  const user = (): CryptoUser => alice ?? assert.fail("alice not logged in");
  const bridge = (): BridgeProcess => started().child;

  /** One metric's value (summed over labels); undefined while /metrics does not answer. */
  async function metric(name: string): Promise<number | undefined> {
    const res = await fetch(metricsUrl).catch(() => undefined);
    if (!res?.ok) return undefined;
    let sum = 0;
    for (const line of (await res.text()).split("\n"))
      if (line.startsWith(name) && /^[a-z_]+(\{[^}]*\})? /.test(line)) sum += Number(line.split(" ").pop());
    return sum;
  }

  before(async function () {
    this.timeout(900_000);
    const metricsPort = await freePort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    world = await BridgeWorld.start({
      permissions: { "@alice:localhost": "user", "@bob:localhost": "user" },
      configure: (input) => ({
        ...input,
        encryption: { allow: true, max_machines: MAX, idle_seconds: 0 },
        metrics: { enabled: true, hostname: "127.0.0.1", port: metricsPort },
      }),
      childProcess: true,
    });
    for (let i = 1; i <= N; i++) joes.push(await world.startPeopleUser(joeOf(i)));
    alice = await startCryptoUser(world.hs, "alice");
    // The gauge, read all along: the bound must hold at every moment, not only at the end.
    poller = (async () => {
      while (polling) {
        const v = await metric("bridge_crypto_machines_loaded");
        if (v !== undefined) maxSeen = Math.max(maxSeen, v);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    for (let i = 1; i <= N; i++) {
      const { room_id: roomId } = await user().client.createRoom({
        preset: Preset.TrustedPrivateChat,
        invite: [ghostOf(joeOf(i))],
        is_direct: true,
        initial_state: [
          { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
        ],
      });
      rooms.push(roomId);
    }
    for (const [i, room] of rooms.entries())
      await eventually(
        `ghost ${i + 1} to join`,
        async () => {
          const members = await matrixApi(
            started().hs,
            user().accessToken,
            "GET",
            `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/joined_members`,
          );
          return ghostOf(joeOf(i + 1)) in (members.joined as Json) ? true : undefined;
        },
        120_000,
      );
  });

  afterEach(function () {
    if (this.currentTest?.state === "failed" && world)
      for (const l of bridge().logs.filter((l) => l.level >= 40 || /crypto|decrypt|machine/i.test(l.msg)))
        console.error(JSON.stringify(l).slice(0, 600));
  });

  after(async function () {
    this.timeout(60_000);
    polling = false;
    await poller;
    alice?.client.stopClient();
    bob?.client.stopClient();
    await world?.stop();
  });

  const bodiesAt = (i: number): string[] =>
    joes[i - 1]!.rec.messages.filter((m) => m.from === ALICE_PEOPLE && m.content.type === "text").map(
      (m) => (m.content as { body: string }).body,
    );

  async function atJoe(i: number, body: string): Promise<void> {
    await eventually(
      `"${body}" at ${joeOf(i)}`,
      () => (bodiesAt(i).includes(body) ? true : undefined),
      90_000,
    );
  }

  async function fromGhost(
    who: CryptoUser,
    i: number,
    body: string,
    timeoutMs = 90_000,
  ): Promise<MatrixEvent> {
    return eventually(
      `"${body}" from ghost ${i}, decrypted for ${who.userId}/${who.deviceId}`,
      () =>
        who.client
          .getRoom(rooms[i - 1]!)
          ?.getLiveTimeline()
          .getEvents()
          .find(
            (e) =>
              e.getSender() === ghostOf(joeOf(i)) &&
              !e.isBeingDecrypted() &&
              !e.isDecryptionFailure() &&
              e.getContent().body === body,
          ),
      timeoutMs,
    );
  }

  it("bridges all six encrypted rooms both ways with at most 2 machines loaded", async function () {
    for (let i = 1; i <= N; i++) {
      await user().client.sendTextMessage(rooms[i - 1]!, `a-${i}`);
      await atJoe(i, `a-${i}`);
      await joes[i - 1]!.client.sendText([ALICE_PEOPLE], `j-${i}`);
      await fromGhost(user(), i, `j-${i}`);
    }
    // The first ghosts' machines were evicted to make room: the next message reloads one.
    await user().client.sendTextMessage(rooms[0]!, "a-1 again");
    await atJoe(1, "a-1 again");
    const loads = (await metric("bridge_crypto_machine_loads_total")) ?? 0;
    assert.ok(loads > N, `machines were loaded again after eviction (${loads} loads)`);
    assert.ok(maxSeen >= 1 && maxSeen <= MAX, `machines loaded at most ${MAX}, saw ${maxSeen}`);
  });

  it("hands a device-list change only to the machine that tracks the user", async function () {
    bob = await startCryptoUser(started().hs, "bob");
    const b = bob;
    await user().client.invite(rooms[0]!, b.userId);
    await eventually("Bob invited", () => (b.client.getRoom(rooms[0]!) ? true : undefined), 60_000);
    await b.client.joinRoom(rooms[0]!);
    // Ghost 1 sends into the room: its machine now tracks Bob (and says so in the store).
    await joes[0]!.client.sendText([ALICE_PEOPLE], "bob is here");
    await fromGhost(b, 1, "bob is here");
    // Let the device-list change of Bob's join settle before counting.
    let before = -1;
    await eventually(
      "the device-list routes to settle",
      async () => {
        const now = (await metric("bridge_crypto_device_list_routes_total")) ?? -1;
        const settled = now === before;
        before = now;
        await new Promise((r) => setTimeout(r, 1500));
        return settled ? true : undefined;
      },
      60_000,
    );
    const second = await loginCryptoDevice(started().hs, b);
    await eventually(
      "Bob's new device routed to a machine",
      async () =>
        ((await metric("bridge_crypto_device_list_routes_total")) ?? 0) > before ? true : undefined,
      60_000,
    );
    const after = (await metric("bridge_crypto_device_list_routes_total")) ?? 0;
    assert.equal(after - before, 1, "one machine (ghost 1's) got Bob's change, not all six");
    // And it acts on it: what ghost 1 sends next is readable on Bob's new device. (Its keys may
    // be uploaded after the change was routed: the ghost learns them from the next change, so
    // it writes again until one message reaches the new device.)
    const readable = async (n: number) =>
      fromGhost(second, 1, `for bob's new device ${n}`, 60_000).then(
        () => true,
        () => false,
      );
    let ok = false;
    for (let n = 1; n <= 4 && !ok; n++) {
      await joes[0]!.client.sendText([ALICE_PEOPLE], `for bob's new device ${n}`);
      ok = await readable(n);
    }
    assert.ok(ok, "a message of ghost 1 decrypted on Bob's new device");
    second.client.stopClient();
    assert.ok(maxSeen <= MAX, `machines loaded at most ${MAX}, saw ${maxSeen}`);
  });

  it("stops on SIGTERM within 5 s and bridges what came while it was down after the restart", async function () {
    // A functional bound, not a speed assertion: before issue 17 an encrypted bridge took 10 s
    // to stop (each machine saved whole, then closed one after another); the target is about 1 s.
    const t0 = Date.now();
    await bridge().kill("SIGTERM");
    const stopMs = Date.now() - t0;
    console.log(`      bridge exited ${stopMs} ms after SIGTERM`);
    assert.ok(stopMs < 5_000, `the bridge took ${stopMs} ms to exit after SIGTERM`);

    await user().client.sendTextMessage(rooms[2]!, "while down");
    await joes[2]!.client.sendText([ALICE_PEOPLE], "j while down");
    await bridge().start(120_000);
    await atJoe(3, "while down");
    await fromGhost(user(), 3, "j while down");
    assert.equal(bodiesAt(3).filter((b) => b === "while down").length, 1);
  });
});
