// One live socket's state, and the index of authenticated sockets by device.
import { WebSocket, type RawData } from "ws";
import type { StoredEnvelope } from "../../store/types.js";
import type { RelayEndpoint } from "./relay-service.js";

export enum State {
  /** Upgraded without a header: waiting for the auth frame. */
  AwaitingAuth,
  /** Auth frame received, token being checked. */
  Authenticating,
  /** Authenticated, mailbox being sent; live pushes are buffered. */
  CatchingUp,
  Live,
}

/**
 * What the hub uses of a device's socket: a ws WebSocket, or the server end of
 * an in-process link (net/in-process-wire.ts), which behaves the same.
 */
export interface LiveWire {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string | Buffer, options?: { binary?: boolean }, cb?: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(): void;
  on(event: "message", listener: (data: RawData, isBinary: boolean) => void): unknown;
  on(event: "pong", listener: () => void): unknown;
  on(event: "error", listener: (err: Error) => void): unknown;
  once(event: "close", listener: () => void): unknown;
}

/** Per-socket state, kept small: the bench measures memory per idle device. */
export class Conn {
  state = State.AwaitingAuth;
  /** Answered the last ping. */
  alive = true;
  malformed = 0;
  address = "";
  device = "";
  /** Live pushes that arrived during catch-up; null once live. */
  buffer: StoredEnvelope[] | null = null;
  /** The buffer overflowed: catch-up must read the mailbox again before going live. */
  overflowed = false;
  authTimer: NodeJS.Timeout | undefined = undefined;
  /** The highest seq sent on this socket (read by live-pull.ts). */
  sentSeq = 0;
  /** A mailbox read for live-pull.ts is running; `repull`: another hint came meanwhile. */
  pulling = false;
  repull = false;
  /** Relay frames to other servers, one queue per target device; null until the first. */
  queues: Map<string, ForwardQueue> | null = null;
  /** Frames in `queues`. */
  queued = 0;
  /** One promise per queued frame, settled once it was forwarded or refused: a pong waits for them. */
  forwards: Set<Promise<void>> | null = null;
  /** The last pong still waiting for forwards; later pongs go after it. */
  pongTail: Promise<void> | null = null;

  constructor(
    readonly ws: LiveWire,
    /** An in-process link: not counted against max_connections. */
    readonly local = false,
  ) {}

  get key(): string {
    return deviceKey(this.address, this.device);
  }
}

export interface ForwardQueue {
  to: RelayEndpoint;
  items: { session: string; data: string; done: () => void }[];
  running: boolean;
}

export function deviceKey(address: string, device: string): string {
  return `${address}\n${device}`;
}

export function isOpen(c: Conn): boolean {
  return c.ws.readyState === WebSocket.OPEN;
}

/** Authenticated sockets by `${address}\n${device}`: a device may hold several. */
export class ConnIndex {
  private readonly byDevice = new Map<string, Conn[]>();

  of(address: string, device: string): readonly Conn[] {
    return this.byDevice.get(deviceKey(address, device)) ?? [];
  }

  add(c: Conn): void {
    const key = c.key;
    const conns = this.byDevice.get(key);
    if (conns) conns.push(c);
    else this.byDevice.set(key, [c]);
  }

  remove(c: Conn): void {
    const key = c.key;
    const conns = this.byDevice.get(key);
    if (!conns) return;
    const rest = conns.filter((x) => x !== c);
    if (rest.length === 0) this.byDevice.delete(key);
    else this.byDevice.set(key, rest);
  }
}
