// The lock the test harness takes before filling .cache (Synapse, livekit-server).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { acquireCacheLock, releaseCacheLock, type CacheLockOptions } from "../helpers/cache-lock.js";

describe("test helper cache lock", function () {
  let base: string;
  const said: string[] = [];
  const options = (o: Partial<CacheLockOptions> = {}): CacheLockOptions => ({
    dir: join(base, "x.lock"),
    what: "filling x",
    timeoutMs: 5_000,
    done: () => false,
    progress: (m) => said.push(m),
    ...o,
  });

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), "cache-lock-"));
    said.length = 0;
  });
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  it("is held by one taker at a time and released", async function () {
    assert.equal(await acquireCacheLock(options()), true);
    assert.ok(existsSync(join(base, "x.lock", "owner.json")));
    releaseCacheLock(join(base, "x.lock"));
    assert.equal(await acquireCacheLock(options()), true);
  });

  it("is not waited for once the work is done by its holder", async function () {
    assert.equal(await acquireCacheLock(options()), true);
    assert.equal(await acquireCacheLock(options({ done: () => true })), false);
    assert.ok(existsSync(join(base, "x.lock")), "the holder's lock is left alone");
  });

  it("breaks a lock whose owner is gone", async function () {
    mkdirSync(join(base, "x.lock"));
    // The highest pid Linux can give (2^22 - 1): no process here has it.
    writeFileSync(join(base, "x.lock", "owner.json"), JSON.stringify({ pid: 4_194_303, host: hostname() }));
    assert.equal(await acquireCacheLock(options()), true);
    assert.ok(said.some((m) => /breaking the stale lock/.test(m)));
  });

  it("times out, saying what it waited for, while a live owner holds it", async function () {
    this.timeout(10_000);
    assert.equal(await acquireCacheLock(options()), true);
    await assert.rejects(acquireCacheLock(options({ timeoutMs: 1_500 })), /another process filling x/);
    assert.ok(said.some((m) => /waiting for another process filling x/.test(m)));
  });
});
