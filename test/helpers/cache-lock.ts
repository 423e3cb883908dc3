// A lock between processes that fill the shared .cache (the Synapse venv,
// livekit-server): a directory made atomically, holding its owner's pid and
// host. A lock whose owner died is broken; one that is done meanwhile (`done`)
// is not waited for. Waits poll once a second: an install takes minutes.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface CacheLockOptions {
  dir: string;
  /** What the lock guards, for messages ("installing Synapse 1.2"). */
  what: string;
  timeoutMs: number;
  /** True once the guarded work is done (by another process): then the lock is not needed. */
  done: () => boolean;
  progress: (message: string) => void;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** True if the lock's owner is gone (so the lock can be broken). */
function lockIsStale(dir: string): boolean {
  try {
    const owner = JSON.parse(readFileSync(join(dir, "owner.json"), "utf8")) as { pid: number; host: string };
    return owner.host === hostname() && !processAlive(owner.pid);
  } catch {
    // No readable owner file: the owner died between mkdir and writing it, or is
    // writing it right now. Only break it if it has been like that for a while.
    try {
      return Date.now() - statSync(dir).mtimeMs > 60_000;
    } catch {
      return false; // the lock is gone
    }
  }
}

/** Takes the lock; resolves true when held, false when `done()` came true meanwhile (nothing held). */
export async function acquireCacheLock(o: CacheLockOptions): Promise<boolean> {
  const deadline = Date.now() + o.timeoutMs;
  let told = false;
  for (;;) {
    try {
      mkdirSync(o.dir);
      writeFileSync(
        join(o.dir, "owner.json"),
        JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() }),
      );
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    if (o.done()) return false;
    if (lockIsStale(o.dir)) {
      o.progress(`breaking the stale lock ${o.dir}`);
      rmSync(o.dir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for another process ${o.what} (lock ${o.dir}); remove the lock dir if none is running`,
      );
    if (!told) {
      o.progress(`waiting for another process ${o.what}...`);
      told = true;
    }
    await sleep(1000);
  }
}

/** Releases a lock this process holds. */
export function releaseCacheLock(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
