// Stopping when the process that started the bridge is gone. `npm start` and
// `npx matrix-appservice-people` run the bridge under `sh -c`: npm passes
// SIGTERM/SIGINT on to that shell, which dies without passing it further, and
// the bridge would be left running as an orphan that supervisors no longer see.
// So when a wrapper started it (npm, or bin.cjs's own Node.js 22 launcher), the
// bridge watches its parent and stops as if signalled once the parent is gone.
// Not when started directly (`node … &` from a shell that then exits).
import { readFileSync } from "node:fs";

/** Set by bin.cjs for the Node.js 22 child it starts. */
export const WATCH_PARENT_ENV = "PEOPLE_BRIDGE_WATCH_PARENT";
const EVERY_MS = 500;

/** Whether this process was started by a wrapper that does not pass signals on reliably. */
export function startedByWrapper(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[WATCH_PARENT_ENV] === "1" || typeof env.npm_command === "string";
}

/** The parent of process `pid` (Linux /proc), or undefined when it cannot be read. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Calls `onGone` once when the parent process changes (it exited), or, under npm, when
 * npm itself (the parent's parent: npm runs us under `sh -c`) is gone; npm passes SIGINT
 * to that shell only, which waits on, so the shell outlives npm. Returns a stop function.
 */
export function watchParent(onGone: () => void, env: NodeJS.ProcessEnv = process.env): () => void {
  const parent = process.ppid;
  const npm = typeof env.npm_command === "string" ? parentOf(parent) : undefined;
  const timer = setInterval(() => {
    const gone = process.ppid !== parent || (npm !== undefined && parentOf(parent) !== npm);
    if (!gone) return;
    clearInterval(timer);
    onGone();
  }, EVERY_MS);
  timer.unref();
  return () => clearInterval(timer);
}
