// Realtime relay frames between the processes of one domain (PROTOCOL §17.4):
// a frame to a device whose socket is on another process is written to
// relay_frames for that process, and its id NOTIFY'd in the same statement;
// the process holding the device reads (and deletes) its rows in id order and
// sends them on. Which process holds which device is in live_sessions; each
// process beats in cluster_processes, and one that stops beating (SIGKILL,
// lost host) is taken as dead after cluster.process_expiry: frames to its
// devices are refused at once, and the next heartbeat of a live process
// deletes its rows. Times are the database's clock, so hosts need not agree.
//
// Order per (sender, receiver): LiveRelay sends a socket's frames to one
// device one after another, each after the previous one's commit, so their
// ids rise in that order, and the reader reads by id.
import pg from "pg";
import { PeopleError } from "../errors.js";
import { deviceKey } from "./live-conn.js";
import type { Logger } from "./logger.js";
import type { RelayEndpoint } from "./relay-service.js";

/** The channel a frame's target process is NOTIFY'd on (payload: its process id). */
export const RELAY_CHANNEL = "people_relay";
const NOW_MS = "(extract(epoch from clock_timestamp()) * 1000)::bigint";
/** Frames read per statement (each up to ~87 KB of base64url). */
const BATCH = 64;

export interface SiblingFrame {
  from: RelayEndpoint;
  to: RelayEndpoint;
  session: string;
  data: string;
}

export interface ClusterRelayOptions {
  /** PostgreSQL connection string (the store's). */
  connection: string;
  /** This process's id (the one its mail hints carry). */
  origin: string;
  /** A process that did not beat for this long is dead. */
  expiryMs: number;
  log: Logger;
  /** Send a frame read for this process to the device's open sockets; false when none is open. */
  deliver(frame: SiblingFrame): boolean;
}

export class ClusterRelay {
  private readonly pool: pg.Pool;
  /** Sockets per device on this process: a device is registered while it has one. */
  private readonly here = new Map<string, { address: string; device: string; sockets: number }>();
  /** Registrations and removals, in order. */
  private writes: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private draining = false;
  private redrain = false;
  private closed = false;

  constructor(private readonly o: ClusterRelayOptions) {
    this.pool = new pg.Pool({
      connectionString: o.connection,
      max: 4,
      keepAlive: true,
      // What this pool writes (routes, heartbeats, frames in transit) is worth nothing after a
      // crash: its commits need not wait for the WAL flush.
      options: "-c synchronous_commit=off",
    });
    // An idle client's error (the database restarted) must not crash the process; the pool replaces it.
    this.pool.on("error", (err) => o.log.warn({ err: err.message }, "cluster relay: connection error"));
  }

  async start(): Promise<void> {
    await this.heartbeat();
    const every = Math.max(100, Math.floor(this.o.expiryMs / 4));
    this.timer = setInterval(() => {
      this.heartbeat().catch((err: unknown) =>
        this.o.log.warn({ err: (err as Error).message }, "cluster relay: heartbeat failed"),
      );
    }, every);
    this.timer.unref();
  }

  /** A socket of this device is live here: resolves once other processes can route to it. */
  add(address: string, device: string): Promise<void> {
    const key = deviceKey(address, device);
    const entry = this.here.get(key);
    if (entry) {
      entry.sockets++;
      return this.writes.then(() => undefined);
    }
    this.here.set(key, { address, device, sockets: 1 });
    return this.write(
      "INSERT INTO live_sessions (address, device, process) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
      [address, device, this.o.origin],
    );
  }

  /** A socket of this device closed. */
  remove(address: string, device: string): void {
    const key = deviceKey(address, device);
    const entry = this.here.get(key);
    if (!entry || --entry.sockets > 0) return;
    this.here.delete(key);
    this.write("DELETE FROM live_sessions WHERE address = $1 AND device = $2 AND process = $3", [
      address,
      device,
      this.o.origin,
    ]).catch((err: unknown) =>
      this.o.log.warn({ err: (err as Error).message }, "cluster relay: unregister failed"),
    );
  }

  /**
   * Write frames, in order, from one device to one device, for the live process(es) holding
   * the target: all in one statement (ids given in order), or PEOPLE_UNAVAILABLE when none does.
   */
  async forwardMany(frames: readonly SiblingFrame[]): Promise<void> {
    const first = frames[0];
    if (!first) return;
    const r = await this.pool.query(
      `WITH t AS (
         SELECT s.process FROM live_sessions s JOIN cluster_processes p ON p.id = s.process
         WHERE s.address = $1 AND s.device = $2 AND s.process <> $3 AND p.heartbeat_at > ${NOW_MS} - $4
       ), f AS (
         SELECT * FROM unnest($7::text[], $8::text[]) WITH ORDINALITY AS f(session, data, n)
       ), ins AS (
         INSERT INTO relay_frames (process, from_address, from_device, to_address, to_device, session, data)
         SELECT t.process, $5, $6, $1, $2, f.session, f.data FROM t CROSS JOIN f ORDER BY t.process, f.n
         RETURNING process
       )
       SELECT pg_notify('${RELAY_CHANNEL}', process) FROM (SELECT DISTINCT process FROM ins) d`,
      [
        first.to.address,
        first.to.device,
        this.o.origin,
        this.o.expiryMs,
        first.from.address,
        first.from.device,
        frames.map((f) => f.session),
        frames.map((f) => f.data),
      ],
    );
    if ((r.rowCount ?? 0) === 0) throw new PeopleError("PEOPLE_UNAVAILABLE", "that device is not connected");
  }

  /** A notification for this process (or a reconnect): read the frames waiting for it. */
  wake(): void {
    if (this.closed) return;
    if (this.draining) {
      this.redrain = true;
      return;
    }
    this.draining = true;
    void this.drain()
      .catch((err: unknown) => this.o.log.warn({ err: (err as Error).message }, "cluster relay: read failed"))
      .finally(() => (this.draining = false));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.writes.catch(() => undefined);
    // Others refuse frames to this process's devices at once, not after the expiry.
    await this.forget([this.o.origin]).catch(() => undefined);
    await this.pool.end().catch(() => undefined);
  }

  private async drain(): Promise<void> {
    do {
      this.redrain = false;
      for (;;) {
        const r = await this.pool.query<FrameRow>(
          `DELETE FROM relay_frames WHERE id IN
             (SELECT id FROM relay_frames WHERE process = $1 ORDER BY id LIMIT ${BATCH})
           RETURNING id, from_address, from_device, to_address, to_device, session, data`,
          [this.o.origin],
        );
        const rows = r.rows.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
        for (const row of rows) {
          // The device left meanwhile: the frame is dropped, as one sent a moment later would be refused.
          this.o.deliver({
            from: { address: row.from_address, device: row.from_device },
            to: { address: row.to_address, device: row.to_device },
            session: row.session,
            data: row.data,
          });
        }
        if (rows.length < BATCH || this.closed) break;
      }
    } while (this.redrain && !this.closed);
  }

  private async heartbeat(): Promise<void> {
    const r = await this.pool.query<{ inserted: boolean }>(
      `INSERT INTO cluster_processes (id, heartbeat_at) VALUES ($1, ${NOW_MS})
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at
       RETURNING (xmax = 0) AS inserted`,
      [this.o.origin],
    );
    if (r.rows[0]?.inserted && this.here.size > 0) {
      // Another process took this one for dead (a long pause) and deleted its routes: register again.
      this.o.log.warn("cluster relay: this process was taken for dead; registering its devices again");
      for (const { address, device } of this.here.values()) {
        void this.write(
          "INSERT INTO live_sessions (address, device, process) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
          [address, device, this.o.origin],
        ).catch(() => undefined);
      }
    }
    const dead = await this.pool.query<{ id: string }>(
      `SELECT id FROM cluster_processes WHERE heartbeat_at < ${NOW_MS} - $1`,
      [this.o.expiryMs],
    );
    if (dead.rows.length > 0) await this.forget(dead.rows.map((d) => d.id));
    // Routes written by a process after it was taken for dead and before it learnt so.
    await this.pool.query(
      "DELETE FROM live_sessions WHERE process NOT IN (SELECT id FROM cluster_processes)",
    );
  }

  private async forget(ids: string[]): Promise<void> {
    await this.pool.query("DELETE FROM cluster_processes WHERE id = ANY($1)", [ids]);
    await this.pool.query("DELETE FROM live_sessions WHERE process = ANY($1)", [ids]);
    await this.pool.query("DELETE FROM relay_frames WHERE process = ANY($1)", [ids]);
  }

  private write(sql: string, params: unknown[]): Promise<void> {
    const next = this.writes.then(
      () => this.pool.query(sql, params),
      () => this.pool.query(sql, params),
    );
    this.writes = next.catch(() => undefined);
    return next.then(() => undefined);
  }
}

interface FrameRow {
  id: string;
  from_address: string;
  from_device: string;
  to_address: string;
  to_device: string;
  session: string;
  data: string;
}
