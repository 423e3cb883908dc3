// Realtime relay through the live sockets: a frame to a device of this
// server goes to each of its open sockets; one to a device of another domain
// is forwarded through RelayService, and on a domain of several processes one
// to a device connected to another process through ClusterRelay, one after
// another per target device. A pong waits until the frames sent before its
// ping were forwarded or refused.
import type { PeopleAddress } from "../protocol/address.js";
import { addressDomain } from "../protocol/address.js";
import type { Logger } from "./logger.js";
import { isOpen, deviceKey, type Conn, type ConnIndex, type ForwardQueue } from "./live-conn.js";
import { errorFrame, PONG, type ClientFrame } from "./live-frames.js";
import { logErr, type LiveOutput } from "./live-output.js";
import type { RelayEndpoint, RelayService } from "./relay-service.js";
import type { ClusterRelay } from "./cluster-relay.js";

/** Relay frames of one socket waiting to be forwarded to other servers; beyond this they are refused. */
const MAX_QUEUED_FORWARDS = 1024;
/** Frames to a device on another process written in one statement. */
const SIBLING_BATCH = 64;

export class LiveRelay {
  /** The domain's other processes (cluster.enabled): frames to devices connected there. */
  siblings: Pick<ClusterRelay, "forwardMany"> | undefined;

  constructor(
    private readonly o: {
      conns: ConnIndex;
      out: LiveOutput;
      log: Logger;
      /** Forwards relay frames to devices of other domains; without it they are answered PEOPLE_UNAVAILABLE. */
      forwarder: Pick<RelayService, "forward"> | undefined;
    },
  ) {}

  relay(c: Conn, frame: Extract<ClientFrame, { type: "relay" }>): void {
    const { to, session, data } = frame;
    // A token is only ever issued for an account of this server, so the
    // sender's domain is this server's domain.
    if (!this.sameDomain(c, to)) {
      return this.forward(c, to, session, data);
    }
    // Behind frames still on their way to another process for that device: keep the order.
    const queued = c.queues?.has(deviceKey(to.address, to.device)) ?? false;
    if (!queued && this.deliver(to, { address: c.address, device: c.device }, session, data, c) > 0) return;
    if (this.siblings) return this.forward(c, to, session, data);
    this.o.out.send(c, errorFrame("PEOPLE_UNAVAILABLE", "that device is not connected", session));
  }

  deliver(
    to: RelayEndpoint,
    from: RelayEndpoint,
    session: string,
    data: string,
    except: Conn | undefined,
  ): number {
    let out: string | undefined;
    let delivered = 0;
    for (const t of this.o.conns.of(to.address, to.device)) {
      if (t === except || !isOpen(t)) continue;
      out ??= JSON.stringify({
        type: "relay",
        from: { address: from.address, device: from.device },
        session,
        data,
      });
      this.o.out.send(t, out);
      delivered++;
    }
    return delivered;
  }

  /** Queue a frame for a device of another server; frames to one device go one after another. */
  private forward(c: Conn, to: RelayEndpoint, session: string, data: string): void {
    if (!this.o.forwarder && !this.sameDomain(c, to)) {
      return this.o.out.send(
        c,
        errorFrame("PEOPLE_UNAVAILABLE", "relay to other servers is not enabled", session),
      );
    }
    if (c.queued >= MAX_QUEUED_FORWARDS) {
      return this.o.out.send(c, errorFrame("PEOPLE_UNAVAILABLE", "too many relay frames in flight", session));
    }
    const key = deviceKey(to.address, to.device);
    c.queues ??= new Map();
    let q = c.queues.get(key);
    if (!q) {
      q = { to: { address: to.address, device: to.device }, items: [], running: false };
      c.queues.set(key, q);
    }
    let done!: () => void;
    const settled = new Promise<void>((resolve) => (done = resolve));
    const forwards = (c.forwards ??= new Set());
    forwards.add(settled);
    void settled.then(() => forwards.delete(settled));
    q.items.push({ session, data, done });
    c.queued++;
    if (!q.running) void this.runQueue(c, key, q);
  }

  private sameDomain(c: Conn, to: RelayEndpoint): boolean {
    return addressDomain(to.address as PeopleAddress) === addressDomain(c.address as PeopleAddress);
  }

  private async runQueue(c: Conn, key: string, q: ForwardQueue): Promise<void> {
    const siblings = this.sameDomain(c, q.to) ? this.siblings : undefined;
    const forwarder = this.o.forwarder;
    q.running = true;
    const from = { address: c.address, device: c.device };
    try {
      while (q.items.length > 0 && isOpen(c)) {
        // To another process, the frames waiting go in one write, in order; to another server, one by one.
        const batch = siblings ? q.items.slice(0, SIBLING_BATCH) : [q.items[0]!];
        try {
          if (siblings) {
            await siblings.forwardMany(
              batch.map((i) => ({ from, to: q.to, session: i.session, data: i.data })),
            );
          } else {
            const item = batch[0]!;
            await forwarder!.forward({ from, to: q.to, session: item.session, data: item.data });
          }
          q.items.splice(0, batch.length);
          c.queued -= batch.length;
          for (const item of batch) item.done();
        } catch (err) {
          this.o.log.debug(
            { ...logErr(err), device: c.device },
            "live: relay to another server or process failed",
          );
          // This frame and those queued behind it for that device are refused; each session is told once.
          const failed = q.items.splice(0);
          c.queued -= failed.length;
          for (const session of new Set(failed.map((f) => f.session))) {
            this.o.out.send(c, errorFrame("PEOPLE_UNAVAILABLE", "that device is not reachable", session));
          }
          for (const f of failed) f.done();
        }
      }
    } finally {
      // The socket closed: there is nobody left to tell.
      const left = q.items.splice(0);
      c.queued -= left.length;
      for (const f of left) f.done();
      q.running = false;
      if (c.queues?.get(key) === q) c.queues.delete(key);
    }
  }

  /** A pong confirms the relay frames sent before its ping, so it waits until those were forwarded or refused. */
  pong(c: Conn): void {
    const wait: Promise<unknown>[] = c.forwards ? [...c.forwards] : [];
    if (c.pongTail) wait.push(c.pongTail);
    if (wait.length === 0) return this.o.out.send(c, PONG);
    const tail: Promise<void> = Promise.all(wait).then(() => {
      if (c.pongTail === tail) c.pongTail = null;
      this.o.out.send(c, PONG);
    });
    c.pongTail = tail;
  }
}
