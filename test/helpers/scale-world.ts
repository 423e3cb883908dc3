// Many bridged Matrix users, as the scale bench (bench/scale.ts) and the
// 1,000-user test (test/e2e/bridge-scale.test.ts) need them: the real Synapse,
// the bridge as its real command in its own process (its RSS is what is
// measured), and a second People server (other.test) where each user's
// contacts live. Users are registered in bulk with Synapse's shared-secret
// admin API; each gets `portals` direct chats, the first with joe@other.test
// (a People client that echoes every "rt <token>" back), the others with
// contacts of its own (accounts made straight through the People API: they
// never read their mail), so a world of N users has N × (portals − 1) + 1 ghosts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { BridgeConfigInput } from "../../src/bridge/config.js";
import { PeopleClient } from "../../src/people/client/people-client.js";
import { errorCode } from "../../src/people/transient.js";
import {
  bridgeConfigInput,
  bridgeProcess,
  eventually,
  generateRegistrationWithCli,
  makeBridgeDir,
  matrixApi,
  roomMessages,
  writeConfigFile,
  type BridgeDir,
  type BridgeProcess,
} from "./bridge-harness.js";
import { clientOptions, removeTempDirs, tempDir } from "./client-fixtures.js";
import { registerAccount, startTestServer, type TestServer } from "./people-servers.js";
import { freePort } from "./ports.js";
import { ensureSynapseInstalled, startSynapse, type SynapseHandle } from "./synapse.js";

const PEOPLE_DOMAIN = "people.test";
const OTHER = "other.test";
export const ECHOER = `joe@${OTHER}`;
/** Generous: a loaded 2-core machine runs everything several times slower than an idle one. */
const SLOW_MS = 600_000;
/** How long an echo is waited for (SCALE_TEST_ECHO_WAIT_MS: shorter, to look into a lost one sooner). */
const ECHO_WAIT_MS = Number(process.env.SCALE_TEST_ECHO_WAIT_MS ?? SLOW_MS);

/** What the echoer did with each token: heard it, then answered it (to tell which leg lost an echo). */
interface EchoerLog {
  heard: Set<string>;
  /** Token → the answer's message id, once queued in the echoer's outbox. */
  answered: Map<string, string>;
  /** Answers (message ids) the bridge's People server took. */
  delivered: Set<string>;
}

export interface ScaleUser {
  localpart: string;
  userId: string;
  token: string;
  /** The portals' room ids; [0] is the one with the echoer. */
  rooms: string[];
}

export function ghostOf(address: string): string {
  return `@_people_${address.replace("@", "=40")}:localhost`;
}

/** Runs `job` over `items` with at most `width` at once; resolves when all are done. */
export async function inBatches<T>(
  items: readonly T[],
  width: number,
  job: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await job(items[next++]!);
    }),
  );
}

/**
 * The echoer's answer, tried again while sending fails (sealing first reads the recipient's devices from
 * the bridge's People server, which a loaded machine can make time out): a failure is told, not lost.
 */
async function echo(joe: PeopleClient, to: string, body: string): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await joe.sendText([to], body);
    } catch (err) {
      if (attempt >= 20) throw err;
      const why = `${errorCode(err)}, ${(err as Error).name}`;
      console.log(`      echoer: sending to ${to} failed (${why}), attempt ${attempt}; again`);
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  }
}

/** The bridge process's memory, KiB: its resident set, and the parts Node.js and /proc name. */
export interface BridgeMemory {
  rss: number;
  /** JavaScript heap in use (garbage not yet collected included). */
  heapUsed: number;
  /** The V8 heap as committed (used plus free pages it keeps), KiB. */
  heapTotal: number;
  /** Memory of C++ objects bound to JavaScript (Buffers included). */
  external: number;
  /** Shared file mappings (SQLite WAL indexes, the executable's pages). */
  fileMapped: number;
  /** SQLite store connections open, and opened since start. */
  storesOpen: number;
  storeOpens: number;
}

/** A world's bridge settings (the bench compares them in one run). */
export interface ScaleWorldOptions {
  portals: number;
  /** bridge.open_account_stores (default the config's). */
  openStores?: number;
  /** The bridge's log level (default info; SCALE_TEST_LOG_LEVEL wins): debug traces each message's legs. */
  logLevel?: "debug" | "info";
  /** encryption.allow: ghosts of encrypted portals get a device and a crypto machine (the bench's per encrypted ghost). */
  encryption?: boolean;
  /** encryption.max_machines (default the config's): the bench measures ghosts past it. */
  maxMachines?: number;
}

export class ScaleWorld {
  readonly users: ScaleUser[] = [];
  private readonly cleanup: (() => Promise<void> | void)[] = [];
  private token = 0;
  private extra = 0;
  /** Seconds spent in each step of adding users (summed over the users added side by side): the profile. */
  readonly setupSeconds: Record<string, number> = {};
  private echoer: EchoerLog = { heard: new Set(), answered: new Map(), delivered: new Set() };

  private constructor(
    readonly hs: SynapseHandle,
    readonly bridge: BridgeProcess,
    readonly other: TestServer,
    readonly portals: number,
    private readonly files: BridgeDir,
    private readonly metricsPort: number,
  ) {}

  static async start(o: ScaleWorldOptions): Promise<ScaleWorld> {
    await ensureSynapseInstalled();
    const cleanup: (() => Promise<void> | void)[] = [];
    try {
      const unlimited = { ingest_per_minute_per_ip: 1_000_000, ingest_per_minute_per_recipient: 1_000_000 };
      const other = await startTestServer(OTHER, { config: { limits: unlimited } });
      cleanup.push(() => other.stop());
      const files = makeBridgeDir();
      cleanup.push(() => files.remove());
      const appservicePort = await freePort();
      const peoplePort = await freePort();
      const metricsPort = await freePort();
      const base = bridgeConfigInput(files.dir, {
        homeserverUrl: "http://127.0.0.1:9",
        appservicePort,
        peopleDomain: PEOPLE_DOMAIN,
        permissions: { localhost: "user" },
      });
      const input: BridgeConfigInput = {
        ...base,
        // SCALE_TEST_LOG_LEVEL=debug: the bridge's debug lines (no plaintext) to follow a lost message.
        logging: { level: (process.env.SCALE_TEST_LOG_LEVEL as "debug" | undefined) ?? o.logLevel ?? "info" },
        metrics: { enabled: true, hostname: "127.0.0.1", port: metricsPort },
        ...(o.openStores ? { bridge: { ...base.bridge, open_account_stores: o.openStores } } : {}),
        ...(o.encryption
          ? { encryption: { allow: true, ...(o.maxMachines ? { max_machines: o.maxMachines } : {}) } }
          : {}),
        people: {
          ...base.people!,
          listen: { host: "127.0.0.1", port: peoplePort },
          limits: unlimited,
          discovery: {
            pins: { [OTHER]: `127.0.0.1:${other.handle.port}` },
            ca_files: [join(other.dataDir, "tls", "dev-cert.pem")],
          },
        },
      };
      writeConfigFile(files.configPath, input);
      await generateRegistrationWithCli(files, `http://127.0.0.1:${appservicePort}`);
      const hs = await startSynapse({ appserviceRegistrations: [files.registrationPath] });
      cleanup.push(() => hs.stop());
      writeConfigFile(files.configPath, { ...input, homeserver: { url: hs.url, domain: hs.serverName } });
      // Its inspector on: memory() collects the garbage before reading.
      const bridge = bridgeProcess(files, { inspect: true });
      await bridge.start(SLOW_MS);
      cleanup.push(() => bridge.kill("SIGTERM"));

      const network = {
        pins: { [OTHER]: `127.0.0.1:${other.handle.port}`, [PEOPLE_DOMAIN]: `127.0.0.1:${peoplePort}` },
        ca: [other.handle.certificate, readFileSync(join(files.dir, "data", "tls", "dev-cert.pem"), "utf8")],
      };
      const joe = await PeopleClient.create({
        ...clientOptions(network, tempDir("scale-joe")),
        address: ECHOER,
      });
      cleanup.push(async () => {
        await joe.close();
        removeTempDirs();
      });
      const echoer: EchoerLog = { heard: new Set(), answered: new Map(), delivered: new Set() };
      joe.onMessage(async (m) => {
        if (m.content.type === "text" && m.content.body.startsWith("rt ")) {
          const token = m.content.body.slice(3);
          echoer.heard.add(token);
          void echo(joe, m.from, `echo ${token}`)
            .then((id) => echoer.answered.set(token, id))
            .catch((err: unknown) =>
              console.log(`      echoer: gave up sending to ${m.from} (${errorCode(err)})`),
            );
        }
      });
      joe.on("delivered", (e) => echoer.delivered.add(e.messageId));
      // A copy waiting in the echoer's outbox (its backoff grows with each attempt) or dropped: told.
      joe.on("deferred", (e) =>
        console.log(`      echoer: copy to ${e.address} deferred (${e.code}), attempt ${e.attempts}`),
      );
      joe.on("undeliverable", (e) => console.log(`      echoer: copy to ${e.address} dropped (${e.code})`));
      await joe.start();
      const world = new ScaleWorld(hs, bridge, other, o.portals, files, metricsPort);
      world.cleanup.push(...cleanup);
      world.echoer = echoer;
      return world;
    } catch (err) {
      for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
      throw err;
    }
  }

  /** The bridge process's resident set now, KiB (Linux /proc), garbage included: memory() collects it first. */
  rssKiB(): number {
    const status = readFileSync(`/proc/${this.bridge.pid}/status`, "utf8");
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? NaN);
  }

  /** The bridge's /metrics text (Prometheus). */
  async metricsText(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`)).text();
  }

  /**
   * The bridge's memory after a full garbage collection, from /proc and its /metrics (Node.js's own
   * gauges). Without the collection a reading moved by tens of MiB with the collector's timing (a
   * 300-user run measured 77 to 416 KiB a user for the same code).
   */
  async memory(): Promise<BridgeMemory> {
    await this.bridge.collectGarbage();
    const res = await fetch(`http://127.0.0.1:${this.metricsPort}/metrics`);
    const text = await res.text();
    const gauge = (name: string): number => {
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "m").exec(text);
      return m ? Number(m[1]) : NaN;
    };
    const smaps = readFileSync(`/proc/${this.bridge.pid}/smaps_rollup`, "utf8");
    const kib = (field: string): number =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(smaps)?.[1] ?? NaN);
    return {
      rss: this.rssKiB(),
      heapUsed: gauge("nodejs_heap_size_used_bytes") / 1024,
      heapTotal: gauge("nodejs_heap_size_total_bytes") / 1024,
      external: gauge("nodejs_external_memory_bytes") / 1024,
      fileMapped: kib("Rss") - kib("Anonymous"),
      storesOpen: gauge("bridge_people_store_connections"),
      storeOpens: gauge("bridge_people_store_opens"),
    };
  }

  /**
   * Adds users until there are `total`, `width` at a time: each registered, its
   * portals created, and every ghost joined (the bridge opened the user's People account).
   */
  async growTo(total: number, width = 24): Promise<void> {
    const fresh = Array.from({ length: total - this.users.length }, (_, i) => `s${this.users.length + i}`);
    const timed = async <T>(phase: string, work: () => Promise<T>): Promise<T> => {
      const start = process.hrtime.bigint();
      try {
        return await work();
      } finally {
        this.setupSeconds[phase] =
          (this.setupSeconds[phase] ?? 0) + Number(process.hrtime.bigint() - start) / 1e9;
      }
    };
    await inBatches(fresh, width, async (localpart) => {
      const account = await timed("register", () => this.hs.registerUser(localpart, `${localpart}-pw`));
      const contacts = [ECHOER];
      for (let k = 1; k < this.portals; k++) {
        const local = `${localpart}c${k}`;
        await timed("contacts", () => registerAccount(this.other, local));
        contacts.push(`${local}@${OTHER}`);
      }
      const user: ScaleUser = { localpart, userId: account.userId, token: account.accessToken, rooms: [] };
      // The rooms one after another, then the joins (three invites of one user at once left a ghost
      // unjoined for 10 minutes in 2 of 2 bench runs under load: not yet understood).
      for (const contact of contacts)
        user.rooms.push(await timed("rooms", () => this.createPortal(user, contact)));
      for (const [k, roomId] of user.rooms.entries())
        await timed("joins", () => this.ghostJoined(user, roomId, contacts[k]!));
      this.users.push(user);
    });
  }

  /**
   * Gives each of `users` one more portal, with a contact of its own (a new ghost each), `width` at a
   * time: the bench's per-ghost cost. The new rooms are not in `rooms` (the echo stays at [0]).
   */
  async addPortals(users: readonly ScaleUser[], width = 24, encrypted = false): Promise<void> {
    await inBatches(users, width, async (user) => {
      const local = `${user.localpart}${encrypted ? "e" : "x"}${++this.extra}`;
      await registerAccount(this.other, local);
      await this.openPortal(user, `${local}@${OTHER}`, encrypted);
    });
  }

  /**
   * A direct chat of `user` with `contact`'s ghost, once the ghost joined (its account opened; in an
   * encrypted room, its device made first); the room id.
   */
  private async openPortal(user: ScaleUser, contact: string, encrypted = false): Promise<string> {
    const roomId = await this.createPortal(user, contact, encrypted);
    await this.ghostJoined(user, roomId, contact);
    return roomId;
  }

  private async createPortal(user: ScaleUser, contact: string, encrypted = false): Promise<string> {
    const room = await matrixApi(this.hs, user.token, "POST", "/_matrix/client/v3/createRoom", {
      preset: "trusted_private_chat",
      is_direct: true,
      invite: [ghostOf(contact)],
      ...(encrypted && {
        initial_state: [
          { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
        ],
      }),
    });
    return String(room.room_id);
  }

  private async ghostJoined(user: ScaleUser, roomId: string, contact: string): Promise<void> {
    const ghost = ghostOf(contact);
    await eventually(
      `${ghost} to join ${user.localpart}'s portal`,
      async () => {
        const members = await matrixApi(
          this.hs,
          user.token,
          "GET",
          `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/joined_members`,
        );
        return ghost in (members.joined as object) ? true : undefined;
      },
      SLOW_MS,
    );
  }

  /** Sends "rt <token>" from `user` to the echoer; resolves with the token. */
  async send(user: ScaleUser): Promise<string> {
    const token = `${user.localpart}-${++this.token}`;
    await matrixApi(
      this.hs,
      user.token,
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(user.rooms[0]!)}/send/m.room.message/t${this.token}`,
      { msgtype: "m.text", body: `rt ${token}` },
    );
    return token;
  }

  /** Resolves once the echo of `token` from the echoer's ghost is in `user`'s portal. */
  async echoed(user: ScaleUser, token: string, pollMs = 250): Promise<void> {
    const ghost = ghostOf(ECHOER);
    await eventually(
      `the echo of ${token}`,
      async () => {
        const events = await roomMessages(this.hs, user.token, user.rooms[0]!, 20);
        const found = events.some(
          (e) =>
            e.sender === ghost && (e.content as { body?: unknown } | undefined)?.body === `echo ${token}`,
        );
        if (!found) await new Promise((r) => setTimeout(r, pollMs));
        return found ? true : undefined;
      },
      ECHO_WAIT_MS,
    ).catch(async (err: unknown) => {
      // Which leg lost it: Matrix → People (never heard), the echoer, or People → Matrix (answered).
      const elsewhere = await this.echoElsewhere(user, `echo ${token}`).catch(
        (e: unknown) => `(${String(e)})`,
      );
      const echoer = this.echoer;
      const heard = echoer.heard.has(token) ? "heard it" : "never heard it";
      const id = echoer.answered.get(token);
      const answered =
        id === undefined
          ? ""
          : `, answered it, ${echoer.delivered.has(id) ? "the bridge's server took the answer" : "the answer still in its outbox"}`;
      // The bridge's lines about the portal (at debug: "sent to People", "sent to Matrix"), oldest first.
      const room = user.rooms[0]!;
      const trail = this.bridge.logs
        .filter((l) => l.room === room || l.user === user.userId)
        .slice(-12)
        .map((l) => l.msg)
        .join("; ");
      throw new Error(
        `${(err as Error).message} (the echoer ${heard}${answered}; in Matrix: ${elsewhere}; ` +
          `the bridge's lines for the user: ${trail || "none"})`,
      );
    });
  }

  /** Where an echo not among the portal's last events is, if anywhere: further back, or in another room. */
  private async echoElsewhere(user: ScaleUser, body: string): Promise<string> {
    const rooms = (await matrixApi(this.hs, user.token, "GET", "/_matrix/client/v3/joined_rooms"))
      .joined_rooms as string[];
    const sync = await matrixApi(this.hs, user.token, "GET", "/_matrix/client/v3/sync?timeout=0");
    const invites = Object.keys((sync.rooms as { invite?: object } | undefined)?.invite ?? {}).length;
    for (const roomId of rooms) {
      const events = await roomMessages(this.hs, user.token, roomId, 500);
      const at = events.findIndex((e) => (e.content as { body?: unknown } | undefined)?.body === body);
      if (at >= 0)
        return `found in ${roomId === user.rooms[0] ? "the portal" : `another room ${roomId}`}, ${at} events back`;
    }
    return `not in the user's ${rooms.length} rooms (${invites} invites pending)`;
  }

  /** One message each way for each of `users`, `width` at a time. */
  async exchange(users: readonly ScaleUser[], width = 32): Promise<void> {
    await inBatches(users, width, async (user) => this.echoed(user, await this.send(user)));
  }

  get dir(): string {
    return this.files.dir;
  }

  async stop(): Promise<void> {
    for (const step of this.cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
  }
}
