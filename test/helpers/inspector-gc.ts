// A full garbage collection in another Node.js process, through its inspector
// (started with --inspect=127.0.0.1:0), so a memory reading taken after it
// counts what the process keeps, not garbage the collector has not reached
// yet (tens of MiB either way on a loaded machine). Test-only: the bridge has
// no hook for this, the inspector is Node's own.
import WebSocket from "ws";

/** The inspector's address as Node prints it on stderr when it starts. */
export function inspectorUrlIn(stderr: string): string | undefined {
  return /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[0-9a-f-]+)/.exec(stderr)?.[1];
}

/** Runs HeapProfiler.collectGarbage `times` times in the process behind `url`; resolves when done. */
export async function collectGarbage(url: string, times = 2): Promise<void> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  try {
    for (let id = 1; id <= times; id++) {
      await new Promise<void>((resolve, reject) => {
        const onMessage = (data: WebSocket.RawData) => {
          const reply = JSON.parse(data.toString()) as { id?: number; error?: { message: string } };
          if (reply.id !== id) return; // an event, not our answer
          ws.off("message", onMessage);
          if (reply.error) reject(new Error(`collectGarbage: ${reply.error.message}`));
          else resolve();
        };
        ws.on("message", onMessage);
        ws.once("close", () => reject(new Error("the inspector closed before collectGarbage answered")));
        ws.send(JSON.stringify({ id, method: "HeapProfiler.collectGarbage" }));
      });
    }
  } finally {
    ws.close();
  }
}
