// Waiting for Ctrl-C (SIGINT), SIGTERM or SIGHUP, for the commands that run
// until stopped (`watch`, `link-code`). The first signal asks for a clean
// stop; one more, a second or more later, ends the process at once. (A signal
// delivered twice at the same moment, by the terminal and by bin/people
// passing it on, counts once.)
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

export interface SignalWait {
  promise: Promise<NodeJS.Signals>;
  dispose(): void;
}

export function untilSignal(): SignalWait {
  let first = 0;
  let resolve!: (s: NodeJS.Signals) => void;
  const promise = new Promise<NodeJS.Signals>((r) => (resolve = r));
  const handler = (signal: NodeJS.Signals) => {
    if (first === 0) {
      first = Date.now();
      resolve(signal);
    } else if (Date.now() - first > 1000) {
      process.exit(130);
    }
  };
  for (const s of SIGNALS) process.on(s, handler);
  return {
    promise,
    dispose: () => {
      for (const s of SIGNALS) process.off(s, handler);
    },
  };
}
