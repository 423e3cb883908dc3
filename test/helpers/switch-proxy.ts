// A TCP proxy on loopback in front of a server, switched off and on by the
// test: off, it resets every connection (open ones too), as a server that is
// down does. Tests pin a domain to the proxy's port to take its server away
// from one party while others still reach it directly. With `holdMs`, each
// connection waits that long before it goes through: a slow path, as a fresh
// Tor circuit on a busy machine.
import { createServer, connect, type Server, type Socket } from "node:net";
import { freePort } from "./ports.js";

export class SwitchProxy {
  /** Connections refused while off. */
  refused = 0;
  /** Connections accepted (held or not). */
  accepted = 0;
  /** How long each new connection waits before it is put through. */
  holdMs = 0;
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
    this.accepted++;
    this.track(socket);
    if (this.holdMs <= 0) return this.putThrough(socket);
    socket.pause();
    const hold = setTimeout(() => this.putThrough(socket), this.holdMs);
    socket.on("close", () => clearTimeout(hold));
  }

  private putThrough(socket: Socket): void {
    if (socket.destroyed) return;
    const upstream = connect(this.target, "127.0.0.1");
    this.track(upstream);
    socket.pipe(upstream).pipe(socket);
    socket.resume();
    socket.on("close", () => upstream.destroy());
    upstream.on("close", () => socket.destroy());
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on("close", () => this.sockets.delete(s));
    s.on("error", () => undefined);
  }
}
