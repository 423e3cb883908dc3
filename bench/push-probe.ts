// Synapse's own appservice push, timed against its /sync, for the bridge bench:
// how much of the bridged way out is the homeserver's push path and not the
// bridge. A second, empty appservice (this process, answering every
// transaction at once) has its bot in a room with Alice and Bob; Alice sends
// "pp <n>" there one at a time, and each is timed from the send to Bob's /sync
// and to the probe's transaction. Synapse writes each appservice transaction to
// its database (application_services_txns) before it sends it, and /sync has
// no such step: the difference is what any appservice pays on the way in.
import { randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import type { SynapseHandle } from "../test/helpers/synapse.js";
import { freePort } from "../test/helpers/ports.js";
import { median, type MatrixHttpUser } from "./matrix-http.js";

/** The probe's bot, in the homeserver "localhost" of the bench. */
const PROBE_LOCALPART = "_pushprobe_bot";
const MAX_BODY_BYTES = 16 * 1024 * 1024;

export interface PushTiming {
  /** p50 ms from Alice's send to Bob's /sync, and to the probe's transaction. */
  sync: number;
  push: number;
  /** p50 of (push − sync) per message, ms. */
  later: number;
  samples: number;
}

export class PushProbe {
  private readonly seen = new Map<string, bigint>();
  private readonly waiters = new Map<string, () => void>();
  private server: Server | undefined;
  private readonly asToken = randomBytes(24).toString("hex");
  private readonly hsToken = randomBytes(24).toString("hex");

  private constructor(readonly registrationPath: string) {}

  /** Listens, and writes the registration Synapse must load at its start. */
  static async start(dir: string): Promise<PushProbe> {
    const probe = new PushProbe(join(dir, "push-probe.yaml"));
    const port = await freePort();
    probe.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on("data", (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY_BYTES) chunks.push(c);
      });
      req.on("end", () => {
        const at = process.hrtime.bigint();
        const authorized = req.headers.authorization === `Bearer ${probe.hsToken}`;
        if (req.method === "PUT" && authorized && req.url?.startsWith("/_matrix/app/v1/transactions/")) {
          probe.record(Buffer.concat(chunks).toString("utf8"), at);
        }
        res.writeHead(authorized ? 200 : 403, { "content-type": "application/json" });
        res.end(authorized ? "{}" : '{"errcode":"M_FORBIDDEN"}');
      });
    });
    const server = probe.server;
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    writeFileSync(
      probe.registrationPath,
      stringify({
        id: "push-probe",
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        as_token: probe.asToken,
        hs_token: probe.hsToken,
        sender_localpart: PROBE_LOCALPART,
        rate_limited: false,
        namespaces: { users: [{ exclusive: true, regex: `@${PROBE_LOCALPART}:.*` }], aliases: [], rooms: [] },
      }),
    );
    return probe;
  }

  private record(body: string, at: bigint): void {
    let events: unknown;
    try {
      events = (JSON.parse(body) as { events?: unknown }).events;
    } catch {
      return;
    }
    if (!Array.isArray(events)) return;
    for (const e of events as { content?: { body?: unknown } }[]) {
      const text = e.content?.body;
      if (typeof text !== "string" || !text.startsWith("pp ")) continue;
      this.seen.set(text.slice(3), at);
      this.waiters.get(text.slice(3))?.();
    }
  }

  /**
   * A room with Alice, Bob and the probe's bot; then `samples` messages one at a time, each timed to
   * Bob's /sync and to the probe's transaction (both listeners already running).
   */
  async measure(
    hs: SynapseHandle,
    alice: MatrixHttpUser,
    bob: MatrixHttpUser,
    samples: number,
  ): Promise<PushTiming> {
    const bot = `@${PROBE_LOCALPART}:${hs.serverName}`;
    const room = await alice.createDirectRoom(bob.userId);
    await bob.join(room);
    await alice.invite(room, bot);
    const joined = await fetch(`${hs.url}/_matrix/client/v3/join/${encodeURIComponent(room)}`, {
      method: "POST",
      headers: { authorization: `Bearer ${this.asToken}`, "content-type": "application/json" },
      body: "{}",
    });
    if (!joined.ok)
      throw new Error(`the push probe's bot could not join: ${joined.status} ${await joined.text()}`);
    const atBob = new Map<string, bigint>();
    const bobWaiters = new Map<string, () => void>();
    bob.onMessage((roomId, sender, body) => {
      if (roomId !== room || sender !== alice.userId || !body.startsWith("pp ")) return;
      atBob.set(body.slice(3), process.hrtime.bigint());
      bobWaiters.get(body.slice(3))?.();
    });
    const seenBy = (map: Map<string, bigint>, waiters: Map<string, () => void>, token: string) =>
      new Promise<bigint>((resolve) => {
        const done = () => resolve(map.get(token)!);
        if (map.has(token)) done();
        else waiters.set(token, done);
      });
    const sync: number[] = [];
    const push: number[] = [];
    const later: number[] = [];
    for (let i = 0; i < samples + 10; i++) {
      const token = `${i}`;
      const bySync = seenBy(atBob, bobWaiters, token);
      const byPush = seenBy(this.seen, this.waiters, token);
      const start = process.hrtime.bigint();
      await alice.sendText(room, `pp ${token}`);
      const [s, p] = await Promise.all([bySync, byPush]);
      if (i < 10) continue; // warm-up
      sync.push(Number(s - start) / 1e6);
      push.push(Number(p - start) / 1e6);
      later.push(Number(p - s) / 1e6);
    }
    return { sync: median(sync), push: median(push), later: median(later), samples };
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
