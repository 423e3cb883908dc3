// Devices' live sockets for the server benches: each is open once the server
// says it has caught up, and a pushed envelope wakes whoever waits for its id,
// so a push's latency is from the POST to the frame, never a fixed wait.
import WebSocket from "ws";

export class LivePushes {
  readonly sockets: WebSocket[] = [];
  private readonly waiting = new Map<string, () => void>();

  /** A device's live socket on `baseUrl` (https://…), resolved once caught up. */
  async connect(baseUrl: string, token: string, ca: string[]): Promise<void> {
    const ws = new WebSocket(`${baseUrl.replace("https", "wss")}/_people/v1/live`, {
      ca,
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
    });
    await new Promise<void>((resolve, reject) => {
      ws.on("message", (data) => {
        const frame = JSON.parse(String(data)) as { type: string; id?: string };
        if (frame.type === "caught_up") resolve();
        if (frame.type === "envelope" && frame.id) this.waiting.get(frame.id)?.();
      });
      ws.once("error", reject);
    });
    this.sockets.push(ws);
  }

  /** Milliseconds from `post()` to the frame of envelope `envelopeId` at its device. */
  async timed(envelopeId: string, post: () => Promise<unknown>): Promise<number> {
    const arrived = new Promise<void>((resolve) => this.waiting.set(envelopeId, resolve));
    const start = process.hrtime.bigint();
    await post();
    await arrived;
    this.waiting.delete(envelopeId);
    return Number(process.hrtime.bigint() - start) / 1e6;
  }
}
