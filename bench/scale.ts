// `npm run bench -- scale [--users 10,200,2000] [--portals 3]`: the bridge's
// memory and start-up with many bridged users, measured as issue 17 did: the
// real Synapse, the bridge as its real command, each Matrix user with
// `portals` direct chats to contacts on another People server (the first an
// echoer), users registered in bulk through Synapse's shared-secret admin API
// (test/helpers/scale-world.ts). At each N: the bridge's RSS, the time to add
// the users (register, portals, accounts opened), the time for all accounts to
// start again after a restart, and the Matrix → People → Matrix round trip of
// one user (median of ROUND_TRIPS) as a ratio to the one at the smallest N.
// Then the least-squares cost per user and the extrapolation to 10,000 users.
// Every figure is a ratio to (or a fit over) the same run: on a shared, loaded
// machine the absolute times mean little.
import { percentile } from "./matrix-http.js";
import { fmt, table } from "./harness.js";
import { eventually } from "../test/helpers/bridge-harness.js";
import { ScaleWorld } from "../test/helpers/scale-world.js";

const ROUND_TRIPS = 10;

interface Point {
  users: number;
  ghosts: number;
  rssMiB: number;
  addS: number;
  restartS: number;
  rtMs: number;
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

/** Restarts the bridge; seconds until it logged that every account was started. */
async function restartSeconds(world: ScaleWorld): Promise<number> {
  await world.bridge.kill("SIGTERM");
  const from = world.bridge.logs.length;
  const start = process.hrtime.bigint();
  await world.bridge.start(600_000);
  await eventually(
    "the accounts to start",
    () => (world.bridge.logs.slice(from).some((l) => l.msg === "People accounts started") ? true : undefined),
    600_000,
  );
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export async function runScaleBench(): Promise<void> {
  const sizes = (option("users") ?? "10,200,2000")
    .split(",")
    .map(Number)
    .sort((a, b) => a - b);
  const portals = Number(option("portals") ?? 3);
  console.log(
    `\n== scale: bridge RSS, start-up and round trip with ${sizes.join(", ")} users × ${portals} portals ==`,
  );
  const world = await ScaleWorld.start({ portals });
  const points: Point[] = [];
  try {
    for (const users of sizes) {
      const start = process.hrtime.bigint();
      await world.growTo(users);
      const addS = Number(process.hrtime.bigint() - start) / 1e9;
      const restartS = await restartSeconds(world);
      // Every user's echo portal carries a message each way; then one user's round trips are timed.
      await world.exchange(world.users);
      const rts = (await world.roundTrips(world.users[0]!, ROUND_TRIPS)).sort((a, b) => a - b);
      points.push({
        users,
        ghosts: users * (portals - 1) + 1,
        rssMiB: world.rssKiB() / 1024,
        addS,
        restartS,
        rtMs: percentile(rts, 0.5),
      });
      console.log(`  ${users} users: done`);
    }
  } finally {
    await world.stop();
  }
  const base = points[0]!;
  table(
    points.map((p) => ({
      users: p.users,
      ghosts: p.ghosts,
      "RSS MiB": fmt(p.rssMiB, 0),
      "users added s": fmt(p.addS, 1),
      "restart, all started s": fmt(p.restartS, 1),
      "round trip p50 ms": fmt(p.rtMs, 0),
      "× at smallest N": fmt(p.rtMs / base.rtMs),
    })),
  );
  if (points.length >= 2) {
    const { a, b } = fit(
      points.map((p) => p.users),
      points.map((p) => p.rssMiB * 1024),
    );
    const at10k = (a + b * 10_000) / 1024 / 1024;
    console.log(
      `fitted: ${fmt(b, 1)} KiB RSS per user (each with ${portals} portals, ${portals - 1} ghosts of its own; ` +
        `users and ghosts grow together here, so the per-ghost cost is inside the per-user one) ` +
        `over a base of ${fmt(a / 1024, 0)} MiB (target: under 150 KiB per user plain). ` +
        `Extrapolated to 10,000 users: ${fmt(at10k, 2)} GiB with ${portals} contacts each; ` +
        `for 20 contacts each, add 10,000 × 17 × the per-ghost cost (not separated by this run).`,
    );
  }
}
