// Bridged Matrix users, each with a portal to a People contact on another
// server, exchange one message each way (Matrix → People → Matrix) through the
// bridge running as its real command, and the bridge's memory stays bounded:
// the resident set's growth per user from the first tenth (at most 100) to all
// (the fitted per-user cost) is under PER_USER_KIB. Nothing here is timed:
// every step waits for what it checks.
import assert from "node:assert/strict";
import { ScaleWorld } from "../helpers/scale-world.js";

// 300 in the suite keeps it well inside CI's time; SCALE_TEST_USERS=1000 runs the thousand
// (~15 min on an idle 2-core machine; 330.6 KiB per added user from 100 to 1,000, close to the
// 378 KiB measured from 30 to 300).
const USERS = Number(process.env.SCALE_TEST_USERS ?? 300);
const FIRST = Math.min(100, USERS / 10);
/**
 * Before the in-process link and the shared TLS context a user cost ~2.2 MiB; with them, 378 KiB was
 * measured from 30 to 300 users right after the exchange (garbage not yet collected included; ~270 KiB
 * while users were only being added). The bound leaves room for the collector's timing on a loaded
 * machine and still fails for a per-account socket or TLS context. The target is 150 KiB.
 */
const PER_USER_KIB = 600;

describe(`bridge at scale: ${USERS} bridged users`, function () {
  this.timeout(3_600_000);
  let world: ScaleWorld;

  before(async () => {
    world = await ScaleWorld.start({ portals: 1 });
  });

  after(async () => {
    await world?.stop();
  });

  it(`each exchanges a message both ways, with under ${PER_USER_KIB} KiB of RSS per added user`, async () => {
    await world.growTo(FIRST);
    await world.exchange(world.users);
    const before = world.rssKiB();
    await world.growTo(USERS);
    await world.exchange(world.users.slice(FIRST));
    const after = world.rssKiB();
    const perUser = (after - before) / (USERS - FIRST);
    console.log(
      `      bridge RSS ${Math.round(before / 1024)} MiB at ${FIRST} users, ${Math.round(after / 1024)} MiB at ` +
        `${USERS}: ${perUser.toFixed(1)} KiB per added user`,
    );
    assert.equal(world.users.length, USERS);
    assert.ok(perUser < PER_USER_KIB, `${perUser.toFixed(1)} KiB per user, bound ${PER_USER_KIB}`);
  });
});
