// `npm run bench -- scale [--users|--n 10,200,2000] [--portals 3] [--width 24] [--max-machines M]`: the bridge's
// memory and start-up with many bridged users, measured as issue 17 did: the
// real Synapse, the bridge as its real command, each Matrix user with
// `portals` direct chats to contacts on another People server (the first an
// echoer), users registered in bulk through Synapse's shared-secret admin API
// (test/helpers/scale-world.ts). At each N: the bridge's RSS, the time to add
// the users (register, portals, accounts opened), the time for all accounts to
// start again after a restart, and the Matrix → People → Matrix round trip of
// one user (median of ROUND_TRIPS) as a ratio to the one at the smallest N,
// and the memory's parts (JavaScript heap, external, file mappings, open
// store connections). Once there are `--ghost-users` (200) users, each of them
// gets one more portal with a contact of its own: the cost per added ghost
// (later points carry those ghosts; the per-user fit takes them out). Then
// the least-squares cost per user, and the extrapolation to 10,000 users × 20
// contacts. With `--encrypted-ghosts G` (default 100; 0 skips it), a second
// world with encryption.allow: G users, then one encrypted portal each with a
// contact of its own (the ghost gets its device before it is invited, and a
// crypto machine): the RSS per encrypted ghost, against the plain one. Each point's line is printed as soon
// as it is measured.
// Every figure is a ratio to (or a fit over) the same run: on a shared, loaded
// machine the absolute times mean little.
import { loadavg } from "node:os";
import { FarEnd, MatrixHttpUser, percentile, type RoundTrips } from "./matrix-http.js";
import { fmt, table } from "./harness.js";
import { eventually } from "../test/helpers/bridge-harness.js";
import {
  ECHOER,
  ScaleWorld,
  ghostOf,
  type BridgeMemory,
  type ScaleUser,
} from "../test/helpers/scale-world.js";

const ROUND_TRIPS = 20;

interface Point {
  users: number;
  ghosts: number;
  rssMiB: number;
  mem: BridgeMemory;
  addS: number;
  restartS: number;
  /** From the restart until the first message to an account (closed, with lazy accounts) came back. */
  firstS: number;
  /** From the restart until the bridge logged its portal catch-up run. */
  catchUpS: number;
  /** From the restart until the bridge logged its check of the portals' bridge state (MSC2346). */
  stateS: number;
  /** SIGTERM until the bridge process exited. */
  stopS: number;
  rtMs: number;
  /** Synapse's own Alice → Bob → Alice p50 at the same N, the two paths taking turns. */
  synapseRtMs: number;
  /** The per-ghost measurement's ghosts already in the world at this point. */
  extraGhosts: number;
}

/**
 * Each of the first `count` users gets one more portal with a contact of its own, in steps: KiB of
 * RSS per such ghost, fitted over the steps.
 */
async function perGhostCost(world: ScaleWorld, count: number): Promise<number> {
  const some = world.users.slice(0, count);
  const before = (await world.memory()).rss;
  const steps = await ghostSteps(world, some, false);
  await world.exchange(some);
  const end = ((await world.memory()).rss - before) / some.length;
  const perGhost = fit(
    steps.map((s) => s.ghosts),
    steps.map((s) => s.rss),
  ).b;
  console.log(
    `  ${some.length} more ghosts at ${world.users.length} users (one more portal each for ${some.length} ` +
      `users): ${fmt(perGhost, 1)} KiB RSS per ghost fitted over ${steps.length} steps, ${fmt(end, 1)} end ` +
      `to end after an exchange`,
  );
  return perGhost;
}

/**
 * The two round trips timed at each N, both on /sync long-polls (bench/matrix-http.ts): the first
 * user's echo portal (Matrix → People → Matrix), and Synapse's own Alice → Bob → Alice in the same
 * homeserver. Synapse's tells how much of a slower round trip at large N is the homeserver's.
 */
interface Paths {
  bridged: RoundTrips;
  synapse: RoundTrips;
  stop(): Promise<void>;
}

async function roundTripPaths(world: ScaleWorld): Promise<Paths> {
  const far = new FarEnd();
  const alice = await MatrixHttpUser.register(world.hs, "rt-alice");
  const bob = await MatrixHttpUser.register(world.hs, "rt-bob");
  const room = await alice.createDirectRoom(bob.userId);
  await bob.join(room);
  bob.onMessage((roomId, sender, body) => {
    if (roomId === room && sender === alice.userId && body.startsWith("rt "))
      void bob.sendText(roomId, `echo ${body.slice(3)}`);
  });
  const first = world.users[0]!;
  const user = MatrixHttpUser.of(world.hs, first.userId, first.token);
  await Promise.all([alice.start(), bob.start(), user.start()]);
  return {
    bridged: user.roundTrips(first.rooms[0]!, ghostOf(ECHOER), far),
    synapse: alice.roundTrips(room, bob.userId, far),
    stop: async () => {
      await Promise.all([alice.stop(), bob.stop(), user.stop()]);
    },
  };
}

/** ROUND_TRIPS of each path, taking turns: the p50 of each, ms. */
async function roundTripP50s(paths: Paths): Promise<{ bridged: number; synapse: number }> {
  const bridged: number[] = [];
  const synapse: number[] = [];
  for (let i = 0; i < ROUND_TRIPS; i++) {
    bridged.push(await paths.bridged.roundTrip());
    synapse.push(await paths.synapse.roundTrip());
  }
  const p50 = (xs: number[]) =>
    percentile(
      xs.sort((a, b) => a - b),
      0.5,
    );
  return { bridged: p50(bridged), synapse: p50(synapse) };
}

function option(name: string): string | undefined {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Least squares y = a + b·x. */
function fit(xs: number[], ys: number[]): { a: number; b: number } {
  const n = xs.length;
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  const b = sxx === 0 ? 0 : sxy / sxx;
  return { a: my - b * mx, b };
}

/**
 * Stops the bridge (SIGTERM: seconds until it exited) and starts it again: seconds until it logged
 * that its accounts were started, until a message of the last user added (its account not open:
 * lazy accounts) made the round trip, and until its catch-up run.
 */
async function restartSeconds(
  world: ScaleWorld,
): Promise<{ stop: number; started: number; first: number; caughtUp: number; stateChecked: number }> {
  const stopping = process.hrtime.bigint();
  await world.bridge.kill("SIGTERM");
  const stop = Number(process.hrtime.bigint() - stopping) / 1e9;
  const from = world.bridge.logs.length;
  const start = process.hrtime.bigint();
  const since = () => Number(process.hrtime.bigint() - start) / 1e9;
  await world.bridge.start(600_000);
  const logged = (test: (msg: string) => boolean) =>
    eventually(
      "the bridge's log line",
      () => (world.bridge.logs.slice(from).some((l) => test(String(l.msg))) ? true : undefined),
      600_000,
    );
  const last = world.users.at(-1)!;
  const [started, first, caughtUp, stateChecked] = await Promise.all([
    logged((m) => m === "People accounts started").then(since),
    world
      .send(last)
      .then((token) => world.echoed(last, token, 20))
      .then(since),
    logged((m) => m.startsWith("caught up ")).then(since),
    // Portals made since the last start whose label the bridge had not set yet are labelled now:
    // the round trips are timed once that is done, as on a bridge that has settled.
    logged((m) => m === "bridge state events of the portals checked").then(since),
  ]);
  return { stop, started, first, caughtUp, stateChecked };
}

function describe(p: Point, base: Point | undefined): string {
  const m = p.mem;
  return (
    `  ${p.users} users (${p.ghosts} ghosts): RSS ${fmt(m.rss / 1024, 0)} MiB (heap ${fmt(m.heapUsed / 1024, 0)}, ` +
    `external ${fmt(m.external / 1024, 0)}, file-mapped ${fmt(m.fileMapped / 1024, 0)}), store connections ` +
    `${m.storesOpen} open / ${m.storeOpens} opened; users added in ${fmt(p.addS, 1)} s; restart until all ` +
    `accounts started ${fmt(p.restartS, 1)} s, first message's round trip done ${fmt(p.firstS, 1)} s, catch-up done ` +
    `${fmt(p.catchUpS, 1)} s, bridge state checked ${fmt(p.stateS, 1)} s; SIGTERM to exit ${fmt(p.stopS, 2)} s; round trip p50 ${fmt(p.rtMs, 0)} ms` +
    (base ? ` (×${fmt(p.rtMs / base.rtMs)} the one at ${base.users})` : "") +
    `, Synapse's own ${fmt(p.synapseRtMs, 0)} ms` +
    (base ? ` (×${fmt(p.synapseRtMs / base.synapseRtMs)})` : "") +
    `, bridge ÷ Synapse ${fmt(p.rtMs / p.synapseRtMs)}` +
    `; load ${loadavg()[0]!.toFixed(1)}`
  );
}

function perUser(points: Point[], part: (m: BridgeMemory) => number): number {
  return fit(
    points.map((p) => p.users),
    points.map((p) => part(p.mem)),
  ).b;
}

export async function runScaleBench(): Promise<void> {
  const sizes = (option("users") ?? option("n") ?? "10,200,2000")
    .split(",")
    .map(Number)
    .sort((a, b) => a - b);
  const portals = Number(option("portals") ?? 3);
  const ghostUsers = Number(option("ghost-users") ?? 200);
  const openStores = option("open-stores");
  const encryptedGhosts = Number(option("encrypted-ghosts") ?? 100);
  const maxMachines = option("max-machines");
  // Users added side by side (Synapse does most of the work of adding one).
  const width = Number(option("width") ?? 24);
  console.log(
    `\n== scale: bridge RSS, start-up and round trip with ${sizes.join(", ")} users × ${portals} portals ` +
      `(bridge.open_account_stores ${openStores ?? "default"}; load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}) ==`,
  );
  const world = await ScaleWorld.start({
    portals,
    ...(openStores ? { openStores: Number(openStores) } : {}),
  });
  const points: Point[] = [];
  let perGhost: number | undefined;
  /** Ghosts perGhostCost added, which every later point carries beside its users' own. */
  let extraGhosts = 0;
  let paths: Paths | undefined;
  try {
    for (const users of sizes) {
      const start = process.hrtime.bigint();
      const logsFrom = world.bridge.logs.length;
      const lanesBefore = await roomsAtOnce(world);
      const invites = (users - world.users.length) * portals;
      await world.growTo(users, width);
      const addS = Number(process.hrtime.bigint() - start) / 1e9;
      // An invite's line comes once its transaction's work is done, which may be after the join was seen.
      const opened = () =>
        world.bridge.logs.slice(logsFrom).filter((l) => l.msg === "portal opened by an invite").length;
      await eventually("every invite's line", () => (opened() >= invites ? true : undefined), 60_000).catch(
        () => undefined,
      );
      console.log(inviteProfile(world.bridge.logs.slice(logsFrom), lanesBefore, await roomsAtOnce(world)));
      // Where adding users went (seconds summed over the users added side by side).
      console.log(
        `  adding users up to ${users}: ` +
          Object.entries(world.setupSeconds)
            .map(([phase, sec]) => `${phase} ${fmt(sec, 0)} s`)
            .join(", "),
      );
      const restart = await restartSeconds(world);
      // Every user's echo portal carries a message each way; then one user's round trips are timed.
      await world.exchange(world.users);
      paths ??= await roundTripPaths(world);
      console.log(
        `  timing ${ROUND_TRIPS} round trips of each path at ${users} users (load ${loadavg()[0]!.toFixed(1)})`,
      );
      const rt = await roundTripP50s(paths);
      const mem = await world.memory();
      points.push({
        users,
        ghosts: users * (portals - 1) + 1,
        rssMiB: mem.rss / 1024,
        mem,
        addS,
        restartS: restart.started,
        firstS: restart.first,
        catchUpS: restart.caughtUp,
        stateS: restart.stateChecked,
        stopS: restart.stop,
        rtMs: rt.bridged,
        synapseRtMs: rt.synapse,
        extraGhosts,
      });
      console.log(describe(points.at(-1)!, points.length > 1 ? points[0] : undefined));
      // The cost per added ghost, measured once the world has `ghostUsers` users: at 200 users a
      // ghost's ~40 KiB stands out of the heap's wobble after a collection; at 2,000 it did not
      // (−20.7 KiB fitted). The points after it carry these extra ghosts, taken out below.
      if (perGhost === undefined && ghostUsers > 0 && world.users.length >= ghostUsers) {
        perGhost = await perGhostCost(world, ghostUsers);
        extraGhosts = ghostUsers;
      }
    }
    if (perGhost === undefined && ghostUsers > 0) perGhost = await perGhostCost(world, ghostUsers);
  } catch (err) {
    printBridgeComplaints(world);
    throw err;
  } finally {
    await paths?.stop();
    await world.stop();
  }
  const perEncryptedGhost =
    encryptedGhosts > 0
      ? await encryptedGhostCost(encryptedGhosts, openStores, maxMachines ? Number(maxMachines) : undefined)
      : undefined;
  const base = points[0]!;
  table(
    points.map((p) => ({
      users: p.users,
      ghosts: p.ghosts,
      "RSS MiB": fmt(p.rssMiB, 0),
      "heap MiB": fmt(p.mem.heapUsed / 1024, 0),
      "stores open": p.mem.storesOpen,
      "users added s": fmt(p.addS, 1),
      "SIGTERM to exit s": fmt(p.stopS, 2),
      "restart, all started s": fmt(p.restartS, 1),
      "first message back s": fmt(p.firstS, 1),
      "catch-up done s": fmt(p.catchUpS, 1),
      "bridge state checked s": fmt(p.stateS, 1),
      "round trip p50 ms": fmt(p.rtMs, 0),
      "× at smallest N": fmt(p.rtMs / base.rtMs),
      "Synapse's p50 ms": fmt(p.synapseRtMs, 0),
      "Synapse's × at smallest N": fmt(p.synapseRtMs / base.synapseRtMs),
    })),
  );
  if (points.length >= 2) {
    // Without the per-ghost measurement's extra ghosts, at its own fitted cost.
    const { a, b } = fit(
      points.map((p) => p.users),
      points.map((p) => p.rssMiB * 1024 - p.extraGhosts * (perGhost ?? 0)),
    );
    console.log(
      `fitted per user (each with ${portals} portals, ${portals - 1} ghosts of its own): ${fmt(b, 1)} KiB RSS ` +
        `(heap ${fmt(
          perUser(points, (m) => m.heapUsed),
          1,
        )}, external ${fmt(
          perUser(points, (m) => m.external),
          1,
        )}, ` +
        `file-mapped ${fmt(
          perUser(points, (m) => m.fileMapped),
          1,
        )}) over a base of ${fmt(a / 1024, 0)} MiB ` +
        `(target: under 150 KiB per user plain).`,
    );
    if (perGhost !== undefined) {
      // The fitted per-user cost holds its own ghosts; a user alone is that minus them.
      const userAlone = b - (portals - 1) * perGhost;
      const at10k = (a + 10_000 * userAlone + 10_000 * 20 * perGhost) / 1024 / 1024;
      console.log(
        `per added ghost (plain): ${fmt(perGhost, 1)} KiB. Extrapolated to 10,000 users × 20 contacts ` +
          `(${fmt(userAlone, 1)} KiB a user without its ghosts + 20 ghosts each): ${fmt(at10k, 2)} GiB.`,
      );
      if (perEncryptedGhost !== undefined) {
        const enc = (a + 10_000 * userAlone + 10_000 * 20 * perEncryptedGhost) / 1024 / 1024;
        console.log(
          `per encrypted ghost: ${fmt(perEncryptedGhost, 1)} KiB, ${fmt(perEncryptedGhost - perGhost, 1)} KiB ` +
            `more than a plain one (target: under 100 more). Extrapolated to 10,000 users × 20 contacts, ` +
            `all encrypted: ${fmt(enc, 2)} GiB.`,
        );
      }
    } else {
      console.log(
        `Extrapolated to 10,000 users × ${portals} portals: ${fmt((a + b * 10_000) / 1024 / 1024, 2)} GiB.`,
      );
    }
  }
}

/**
 * A second world with encryption.allow: `count` users with their echo portal, then one encrypted
 * portal each with a contact of its own (a ghost whose device is made when the homeserver first asks
 * about it, and whose crypto machine shares the room's keys). KiB of RSS per such ghost.
 */
async function encryptedGhostCost(
  count: number,
  openStores: string | undefined,
  maxMachines: number | undefined,
): Promise<number> {
  const world = await ScaleWorld.start({
    portals: 1,
    encryption: true,
    ...(openStores ? { openStores: Number(openStores) } : {}),
    ...(maxMachines ? { maxMachines } : {}),
  });
  try {
    await world.growTo(count);
    await world.exchange(world.users);
    const before = (await world.memory()).rss;
    const steps = await ghostSteps(world, world.users, true);
    const after = (await world.memory()).rss;
    const end = (after - before) / count;
    // Past the machine limit (encryption.max_machines, 64 by default) machines are evicted: the slope
    // there is what a ghost costs at scale; below it, each ghost also holds a loaded machine.
    const limit = maxMachines ?? 64;
    const past = steps.filter((s) => s.ghosts >= limit);
    const per =
      past.length >= 2
        ? fit(
            past.map((s) => s.ghosts),
            past.map((s) => s.rss),
          ).b
        : end;
    console.log(
      `  encryption.allow, ${count} users: ${fmt(per, 1)} KiB RSS per added ghost in an encrypted portal ` +
        `(${past.length >= 2 ? `fitted over ${past.length} steps past max_machines ${limit}` : "end to end"}; ` +
        `${fmt(end, 1)} end to end; RSS ${fmt(before / 1024, 0)} → ${fmt(after / 1024, 0)} MiB; ` +
        `load ${loadavg()[0]!.toFixed(1)})`,
    );
    return per;
  } catch (err) {
    printBridgeComplaints(world);
    throw err;
  } finally {
    await world.stop();
  }
}

/**
 * Adds one portal (a new ghost) for each of `users` in about eight steps, the bridge's RSS (KiB) taken
 * after each: the per-ghost slope is fitted over them rather than read from two points.
 */
async function ghostSteps(
  world: ScaleWorld,
  users: readonly ScaleUser[],
  encrypted: boolean,
): Promise<{ ghosts: number; rss: number }[]> {
  const step = Math.max(1, Math.ceil(users.length / 8));
  const steps = [{ ghosts: 0, rss: (await world.memory()).rss }];
  for (let i = 0; i < users.length; i += step) {
    await world.addPortals(users.slice(i, i + step), 24, encrypted);
    const ghosts = Math.min(users.length, i + step);
    const m = await world.memory();
    steps.push({ ghosts, rss: m.rss });
    // The heap as committed beside the heap in use: RSS growth outside both is native.
    console.log(
      `    ${ghosts} ghosts added: RSS ${fmt(m.rss / 1024, 0)} MiB (heap used ${fmt(m.heapUsed / 1024, 1)}, ` +
        `committed ${fmt(m.heapTotal / 1024, 1)}, external ${fmt(m.external / 1024, 1)}, ` +
        `file-mapped ${fmt(m.fileMapped / 1024, 1)})`,
    );
  }
  return steps;
}

/** The bridge's bridge_transaction_rooms_at_once histogram: transactions, and the sum of their most rooms at once. */
async function roomsAtOnce(world: ScaleWorld): Promise<{ count: number; sum: number; over1: number }> {
  const text = await world.metricsText();
  const read = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
  const count = read(/^bridge_transaction_rooms_at_once_count(?:\{[^}]*\})? ([0-9.e+-]+)$/m);
  const one = read(/^bridge_transaction_rooms_at_once_bucket\{le="1"[^}]*\} ([0-9.e+-]+)$/m);
  return {
    count,
    sum: read(/^bridge_transaction_rooms_at_once_sum(?:\{[^}]*\})? ([0-9.e+-]+)$/m),
    over1: count - one,
  };
}

/**
 * Where the bridge's time for each invite went (its "portal opened by an invite" lines: account opened
 * or made, contact looked up, portal recorded, ghost registered and named, joined, space announced),
 * mean ms per invite, and how many rooms its transactions handled side by side.
 */
function inviteProfile(
  logs: readonly Record<string, unknown>[],
  before: { count: number; sum: number; over1: number },
  after: { count: number; sum: number; over1: number },
): string {
  const opened = logs.filter((l) => l.msg === "portal opened by an invite");
  const total: Record<string, number> = {};
  for (const l of opened)
    for (const [step, ms] of Object.entries((l.ms as Record<string, number> | undefined) ?? {}))
      total[step] = (total[step] ?? 0) + ms;
  const steps = Object.entries(total)
    .map(([step, ms]) => `${step} ${fmt(ms / Math.max(1, opened.length), 0)}`)
    .join(", ");
  const txns = after.count - before.count;
  return (
    `  bridge per invite (${opened.length} invites, mean ms): ${steps || "none logged"}; ` +
    `${txns} transactions with room events, ${after.over1 - before.over1} of them with rooms side by side, ` +
    `${fmt((after.sum - before.sum) / Math.max(1, txns), 1)} rooms at once on average`
  );
}

/** What the bridge complained about last, to tell a stuck bridge from a slow machine. */
function printBridgeComplaints(world: { bridge: { logs: { level: number }[] } }): void {
  for (const l of world.bridge.logs.filter((l) => l.level >= 40).slice(-15))
    console.log(`  bridge: ${JSON.stringify(l)}`);
}
