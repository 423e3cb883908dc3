// `npm run bench -- e2be`: what end-to-bridge encryption costs per bridged
// message, against the same bridge, Synapse and People servers in an
// unencrypted room, in the same run. Alice is an Element X-like client
// (matrix-js-sdk, Rust crypto); Joe (encrypted DM) and Ann (plain DM) are
// People users on a second People server. Latency: one message at a time,
// from the send call to the other side having it (decrypted); throughput:
// a burst sent 8 at a time, until the last one arrived (best of 2). The two
// rooms alternate, so changes in the machine's load hit both alike.
import { setTimeout as sleep } from "node:timers/promises";
import { Preset } from "matrix-js-sdk";
import { BridgeWorld, type PeopleUser } from "../test/helpers/bridge-world.js";
import { startCryptoUser, type CryptoUser } from "../test/helpers/crypto-user.js";
import type { SynapseHandle } from "../test/helpers/synapse.js";

const PEOPLE_DOMAIN = "people.test";
const OTHER = "other.test";
const ALICE_PEOPLE = `alice@${PEOPLE_DOMAIN}`;
const LATENCY_N = 30;
const BURST_N = 64;
const WIDTH = 8;
const ROUNDS = 2;

/** Polls quickly: the figure is the time to arrival, not the poll interval. */
async function until<T>(check: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error("timed out");
    await sleep(5);
  }
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)]!;

interface Figures {
  toPeopleMs: number[];
  toMatrixMs: number[];
  toPeoplePerSec: number;
  toMatrixPerSec: number;
}

export async function runBridgeE2beBench(): Promise<void> {
  const world = await BridgeWorld.start({
    permissions: { "@alice:localhost": "user" },
    configure: (input) => ({ ...input, encryption: { allow: true }, metrics: { enabled: false } }),
  });
  const { hs } = world;
  const peers: Record<string, PeopleUser> = {};
  for (const address of [`joe@${OTHER}`, `ann@${OTHER}`])
    peers[address] = await world.startPeopleUser(address);
  const alice = await startCryptoUser(hs, "alice");
  try {
    const rooms = [
      await setupRoom(hs, alice, peers[`joe@${OTHER}`]!, "@_people_joe=40other.test:localhost", true),
      await setupRoom(hs, alice, peers[`ann@${OTHER}`]!, "@_people_ann=40other.test:localhost", false),
    ];
    const [el, pl] = await latencies(rooms);
    const [et, pt] = await throughputs(rooms);
    const encrypted: Figures = { ...el!, ...et! };
    const plain: Figures = { ...pl!, ...pt! };
    const row = (name: string, e: number[], p: number[]) => {
      const [em, pm] = [pct(e, 0.5), pct(p, 0.5)];
      console.log(
        `  ${name}: median ${em.toFixed(1)} ms encrypted vs ${pm.toFixed(1)} ms plain ` +
          `(added ${(em - pm).toFixed(1)} ms, x${(em / pm).toFixed(2)}); p90 ${pct(e, 0.9).toFixed(1)} vs ${pct(p, 0.9).toFixed(1)} ms`,
      );
    };
    console.log(
      `bridge end-to-bridge encryption (latency over ${LATENCY_N} messages, burst of ${BURST_N}, ${WIDTH} at a time)`,
    );
    row("Matrix → People latency", encrypted.toPeopleMs, plain.toPeopleMs);
    row("People → Matrix latency", encrypted.toMatrixMs, plain.toMatrixMs);
    console.log(
      `  Matrix → People: ${encrypted.toPeoplePerSec.toFixed(1)} msg/s encrypted vs ${plain.toPeoplePerSec.toFixed(1)} plain ` +
        `(x${(encrypted.toPeoplePerSec / plain.toPeoplePerSec).toFixed(2)})`,
    );
    console.log(
      `  People → Matrix: ${encrypted.toMatrixPerSec.toFixed(1)} msg/s encrypted vs ${plain.toMatrixPerSec.toFixed(1)} plain ` +
        `(x${(encrypted.toMatrixPerSec / plain.toMatrixPerSec).toFixed(2)})`,
    );
  } finally {
    alice.client.stopClient();
    await world.stop();
  }
}

interface Room {
  tag: string;
  toPeople(body: string): Promise<void>;
  toMatrix(body: string): Promise<void>;
  atPeer(body: string): () => true | undefined;
  atAlice(body: string): () => true | undefined;
}

async function setupRoom(
  hs: SynapseHandle,
  alice: CryptoUser,
  peer: PeopleUser,
  ghost: string,
  encrypted: boolean,
): Promise<Room> {
  const { room_id: room } = await alice.client.createRoom({
    preset: Preset.TrustedPrivateChat,
    invite: [ghost],
    is_direct: true,
    ...(encrypted
      ? {
          initial_state: [
            { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
          ],
        }
      : {}),
  });
  // As a user would: until her client shows the ghost joined.
  await until(() => (alice.client.getRoom(room)?.getMember(ghost)?.membership === "join" ? true : undefined));
  const tag = encrypted ? "e" : "p";
  const atPeer = (body: string) => () =>
    peer.rec.messages.some((m) => m.content.type === "text" && m.content.body === body) ? true : undefined;
  const atAlice = (body: string) => () =>
    alice.client
      .getRoom(room)
      ?.getLiveTimeline()
      .getEvents()
      .some(
        (e) =>
          e.getSender() === ghost &&
          !e.isBeingDecrypted() &&
          !e.isDecryptionFailure() &&
          e.getContent().body === body,
      )
      ? true
      : undefined;
  const toPeople = async (body: string) => {
    await alice.client.sendTextMessage(room, body);
  };
  const toMatrix = async (body: string) => {
    await peer.client.sendText([ALICE_PEOPLE], body);
  };

  // Warm up both ways (sessions, keys, portal).
  for (let i = 0; i < 3; i++) {
    await toPeople(`${tag}-warm-${i}`);
    await until(atPeer(`${tag}-warm-${i}`));
    await toMatrix(`${tag}-warmj-${i}`);
    await until(atAlice(`${tag}-warmj-${i}`));
  }

  return { tag, toPeople, toMatrix, atPeer, atAlice };
}

/** One message each way at a time, the two rooms alternating (so drift in machine load hits both alike). */
async function latencies(rooms: Room[]): Promise<{ toPeopleMs: number[]; toMatrixMs: number[] }[]> {
  const out = rooms.map(() => ({ toPeopleMs: [] as number[], toMatrixMs: [] as number[] }));
  for (let i = 0; i < LATENCY_N; i++) {
    for (const [k, r] of rooms.entries()) {
      let t = performance.now();
      await r.toPeople(`${r.tag}-a-${i}`);
      await until(r.atPeer(`${r.tag}-a-${i}`));
      out[k]!.toPeopleMs.push(performance.now() - t);
      t = performance.now();
      await r.toMatrix(`${r.tag}-j-${i}`);
      await until(r.atAlice(`${r.tag}-j-${i}`));
      out[k]!.toMatrixMs.push(performance.now() - t);
    }
  }
  return out;
}

/** Messages per second of a burst sent WIDTH at a time, until the last arrived. */
async function burst(
  send: (b: string) => Promise<void>,
  arrived: (b: string) => () => true | undefined,
  prefix: string,
) {
  const bodies = Array.from({ length: BURST_N }, (_, i) => `${prefix}-${i}`);
  const t = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: WIDTH }, async () => {
      while (next < bodies.length) await send(bodies[next++]!);
    }),
  );
  await until(() => (bodies.every((b) => arrived(b)()) ? true : undefined), 120_000);
  return (BURST_N * 1000) / (performance.now() - t);
}

/** The best of ROUNDS bursts per room and direction, the rooms alternating. */
async function throughputs(rooms: Room[]): Promise<{ toPeoplePerSec: number; toMatrixPerSec: number }[]> {
  const out = rooms.map(() => ({ toPeoplePerSec: 0, toMatrixPerSec: 0 }));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [k, r] of rooms.entries()) {
      const a = await burst((b) => r.toPeople(b), r.atPeer, `${r.tag}-ba${round}`);
      const j = await burst((b) => r.toMatrix(b), r.atAlice, `${r.tag}-bj${round}`);
      out[k]!.toPeoplePerSec = Math.max(out[k]!.toPeoplePerSec, a);
      out[k]!.toMatrixPerSec = Math.max(out[k]!.toMatrixPerSec, j);
    }
  }
  return out;
}
