// A TCP proxy on loopback in front of a server, switched off and on by the
// test: off, it resets every connection (open ones too), as a server that is
// down does. Tests pin a domain to the proxy's port to take its server away
// from one party while others still reach it directly.
import { createServer, connect, type Server, type Socket } from "node:net";
import { freePort } from "./ports.js";

export class SwitchProxy {
  /** Connections refused while off. */
  refused = 0;
  private down = false;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
    /** The port of the server behind it (set before the first connection). */
    public target: number,
  ) {}

  static async start(target = 0): Promise<SwitchProxy> {
    const port = await freePort();
    const holder: { proxy?: SwitchProxy } = {};
    const server = createServer((socket) => holder.proxy!.accept(socket));
    const proxy = (holder.proxy = new SwitchProxy(server, port, target));
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    return proxy;
  }

  get isDown(): boolean {
    return this.down;
  }

  goDown(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }

  goUp(): void {
    this.down = false;
  }

  async stop(): Promise<void> {
    this.goDown();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    if (this.down) {
      this.refused++;
      socket.resetAndDestroy();
      return;
    }
    const upstream = connect(this.target, "127.0.0.1");
    for (const s of [socket, upstream]) {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
      s.on("error", () => undefined);
    }
    socket.pipe(upstream).pipe(socket);
    socket.on("close", () => upstream.destroy());
    upstream.on("close", () => socket.destroy());
  }
}
