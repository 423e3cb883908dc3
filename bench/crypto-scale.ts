// `npm run bench -- crypto-scale`: do crypto machines cost more as ghosts
// grow? The real Synapse, the bridge (in this process, encryption.allow,
// max_machines 8) and a second People server. Alice (Rust crypto) opens
// encrypted DMs with 50 People addresses one after another; the setup time
// of one (createRoom until the ghost, its device made, has joined) for the
// first 10 ghosts is the baseline of the one for ghosts 41-50, in the same
// run. Then one People → Matrix message through ghost 1 (encrypted by its
// machine): the sealed bytes its saves wrote, against the bytes the saves
// wrote before issue 17 (each save rewrote the whole machine: the same number
// of saves times the machine's whole sealed size, read from its rows).
import { setTimeout as sleep } from "node:timers/promises";
import { Preset } from "matrix-js-sdk";
import { matrixApi } from "../test/helpers/bridge-harness.js";
import { BridgeWorld } from "../test/helpers/bridge-world.js";
import { startCryptoUser } from "../test/helpers/crypto-user.js";

const PEOPLE_DOMAIN = "people.test";
const OTHER = "other.test";
const GHOSTS = Number(process.env.BENCH_CRYPTO_GHOSTS ?? 50);
const MAX_MACHINES = 8;
const ghostOf = (i: number) => `@_people_g${i}=40${OTHER}:localhost`;

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export async function runCryptoScaleBench(): Promise<void> {
  const world = await BridgeWorld.start({
    permissions: { "@alice:localhost": "user" },
    configure: (input) => ({
      ...input,
      encryption: { allow: true, max_machines: MAX_MACHINES },
      metrics: { enabled: false },
    }),
  });
  const { hs, bridge } = world;
  const alice = await startCryptoUser(hs, "alice");
  const g1 = (await world.startPeopleUser(`g1@${OTHER}`)).client;
  // The others only need to exist on their server (the bridge checks an address before its ghost joins).
  for (let i = 2; i <= GHOSTS; i++) await world.registerPeopleAddress(`g${i}@${OTHER}`);
  const metrics = bridge.handle.metrics;
  const counter = async (c: { get(): Promise<{ values: { value: number }[] }> }) =>
    (await c.get()).values.reduce((n, v) => n + v.value, 0);
  try {
    const setupMs: number[] = [];
    const rooms: string[] = [];
    let mostLoaded = 0;
    for (let i = 1; i <= GHOSTS; i++) {
      const t = performance.now();
      const { room_id: room } = await alice.client.createRoom({
        preset: Preset.TrustedPrivateChat,
        invite: [ghostOf(i)],
        is_direct: true,
        initial_state: [
          { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
        ],
      });
      rooms.push(room);
      for (;;) {
        const members = await matrixApi(
          hs,
          alice.accessToken,
          "GET",
          `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/joined_members`,
        );
        if (ghostOf(i) in (members.joined as Record<string, unknown>)) break;
        if (performance.now() - t > 120_000) {
          for (const l of bridge.logs.lines.filter((l) => l.level >= 40).slice(-20))
            console.error(JSON.stringify(l).slice(0, 400));
          throw new Error(`ghost ${i} did not join within 120 s`);
        }
        await sleep(20);
      }
      setupMs.push(performance.now() - t);
      if (i % 10 === 0) console.log(`  … ${i} ghosts, last setup ${setupMs.at(-1)!.toFixed(0)} ms`);
      mostLoaded = Math.max(mostLoaded, bridge.handle.e2b!.manager.loadedCount);
    }
    const first = mean(setupMs.slice(0, 10));
    const last = mean(setupMs.slice(-10));
    console.log(`crypto machines at scale (${GHOSTS} encrypted ghosts, max_machines ${MAX_MACHINES})`);
    console.log(
      `  encrypted DM setup per user: ${first.toFixed(0)} ms for ghosts 1-10, ${last.toFixed(0)} ms for ghosts ` +
        `${GHOSTS - 9}-${GHOSTS} (x${(last / first).toFixed(2)}; before issue 17 one run measured 1.5 s → 3.4 s as ghosts grew, x2.3)`,
    );
    console.log(`  machines in memory at most: ${mostLoaded} (of ${GHOSTS + 1} identities)`);

    // One encrypted message from ghost 1 (evicted long ago: loaded again for it).
    const [bytes0, saves0] = [await counter(metrics.cryptoSavedBytes), await counter(metrics.cryptoSaves)];
    await g1.sendText([`alice@${PEOPLE_DOMAIN}`], "one message");
    const room1 = rooms[0]!;
    for (;;) {
      const found = alice.client
        .getRoom(room1)
        ?.getLiveTimeline()
        .getEvents()
        .some((e) => e.getSender() === ghostOf(1) && e.getContent().body === "one message");
      if (found) break;
      await sleep(20);
    }
    const written = (await counter(metrics.cryptoSavedBytes)) - bytes0;
    const saves = (await counter(metrics.cryptoSaves)) - saves0;
    const rows = await bridge.handle.store.crypto.loadRecords(ghostOf(1));
    const whole = rows.reduce((n, r) => n + r.sealed.length, 0);
    console.log(
      `  one People → Matrix message: ${saves} saves wrote ${written} bytes; whole-machine saves would have ` +
        `written ${saves * whole} (${saves} × ${whole} bytes, ${rows.length} records): x${(written / Math.max(1, saves * whole)).toFixed(3)}`,
    );
  } finally {
    alice.client.stopClient();
    await world.stop();
  }
}
