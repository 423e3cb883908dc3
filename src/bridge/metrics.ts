// The bridge's Prometheus metrics (its own registry) and the small HTTP
// server for /metrics and /health on config.metrics.port. /metrics also
// carries the embedded People server's registry.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { WalSync } from "../shared/wal-sync.js";
import { statementCounts } from "../shared/statement-cache.js";
import type { BridgeMetrics as MetricsPort, Direction } from "./core/ports/metrics.js";

export type { Direction };

/** Matrix events sent to People whose delivery time is still awaited, at most this many. */
const MAX_PENDING_DELIVERIES = 10_000;

export class BridgeMetrics implements MetricsPort {
  readonly registry = new Registry();
  readonly transactions = new Counter({
    name: "bridge_transactions_total",
    help: "Appservice transactions received, by outcome (processed, duplicate)",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly transactionSeconds = new Histogram({
    name: "bridge_transaction_seconds",
    help: "Time to apply one appservice transaction",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly transactionRoomsAtOnce = new Histogram({
    name: "bridge_transaction_rooms_at_once",
    help: "The most rooms whose events one appservice transaction handled side by side",
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });
  readonly events = new Counter({
    name: "bridge_matrix_events_total",
    help: "Matrix events received in transactions, by type",
    labelNames: ["type"],
    registers: [this.registry],
  });
  readonly eventErrors = new Counter({
    name: "bridge_matrix_event_errors_total",
    help: "Matrix events whose handling failed",
    registers: [this.registry],
  });
  readonly eventRetries = new Counter({
    name: "bridge_matrix_event_retries_total",
    help: "Matrix events that failed for now (kept in the retry queue, or failing their transaction without one)",
    registers: [this.registry],
  });
  readonly eventRetryQueue = new Counter({
    name: "bridge_event_retry_queue_total",
    help:
      "The Matrix → People retry queue, by outcome (deferred: kept after a failure for now; waiting: " +
      "kept behind an event it points at; retried: failed again; handled: settled by its handler, " +
      "bridged or told with a notice; gave_up: still failing past the queue's bound, dropped)",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly eventRetryDepth = new Gauge({
    name: "bridge_event_retry_queue_depth",
    help: "Matrix events kept in the retry queue (waiting for another try)",
    registers: [this.registry],
    collect: () => {
      if (this.retryDepthSource) this.eventRetryDepth.set(this.retryDepthSource());
    },
  });
  readonly portalMessages = new Counter({
    name: "bridge_portal_messages_total",
    help: "Messages through DM portals, by direction (to_people, to_matrix) and outcome",
    labelNames: ["direction", "outcome"],
    registers: [this.registry],
  });
  readonly commands = new Counter({
    name: "bridge_commands_total",
    help: "Management-room commands, by command and outcome",
    labelNames: ["command", "outcome"],
    registers: [this.registry],
  });
  readonly catchUpRuns = new Counter({
    name: "bridge_catchup_runs_total",
    help: "Reads of the portal rooms' history for events the homeserver did not deliver, by reason (start, reconnected, restarted, retry, failed_push)",
    labelNames: ["reason"],
    registers: [this.registry],
  });
  readonly catchUpEvents = new Counter({
    name: "bridge_catchup_events_total",
    help: "Events found by catch-up, by outcome (caught_up: not bridged before, handed to the bridge; already_bridged; too_old; failed)",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly messages = new Counter({
    name: "bridge_messages_total",
    help: "Messages bridged, by direction (to_people, to_matrix) and People content type (text, attachment, reaction, ...)",
    labelNames: ["direction", "kind"],
    registers: [this.registry],
  });
  readonly failures = new Counter({
    name: "bridge_message_failures_total",
    help:
      "Messages not bridged, by direction and reason (unbridgeable reasons, People error codes, " +
      "refused, encrypted, retry: failed for now and coming again, gave_up: past the retry window)",
    labelNames: ["direction", "reason"],
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: "bridge_message_latency_seconds",
    help:
      "Bridging latency: to_people from the Matrix event's origin_server_ts to the People server " +
      "accepting the envelope; to_matrix from the People message reaching the bridge to the Matrix event sent",
    labelNames: ["direction"],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly outbox = new Gauge({
    name: "bridge_people_outbox_messages",
    help: "Envelopes waiting in the outboxes of the bridge's People accounts (not yet accepted by a People server)",
    registers: [this.registry],
    collect: async () => {
      if (this.outboxSource) this.outbox.set(await this.outboxSource().catch(() => NaN));
    },
  });
  readonly ghostProfiles = new Counter({
    name: "bridge_ghost_profile_refreshes_total",
    help: "People profiles fetched for ghosts' names and avatars, by outcome (updated, failed)",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly fsyncs: Gauge = new Gauge({
    name: "bridge_wal_fsyncs",
    help: "fsyncs of SQLite WALs before acknowledgements since start (bridge.db, the accounts' client.db, people.db)",
    registers: [this.registry],
    collect: () => {
      this.fsyncs.set(WalSync.total);
    },
  });
  readonly statements: Gauge = new Gauge({
    name: "bridge_sql_statements",
    help: "SQLite statements run since start, by database (bridge, people_server: the embedded one, people_client: the accounts' stores)",
    labelNames: ["db"],
    registers: [this.registry],
    collect: () => {
      for (const [db, perSql] of statementCounts()) {
        let sum = 0;
        for (const n of perSql.values()) sum += n;
        this.statements.set({ db }, sum);
      }
    },
  });
  /** Per SQL text too, only with PEOPLE_BRIDGE_SQL_STATEMENTS=1 (the bench's query count; one series per statement). */
  readonly statementRuns?: Gauge =
    process.env.PEOPLE_BRIDGE_SQL_STATEMENTS === "1"
      ? new Gauge({
          name: "bridge_sql_statement_runs",
          help: "SQLite statements run since start, by database and SQL text (debug)",
          labelNames: ["db", "sql"],
          registers: [this.registry],
          collect: () => {
            for (const [db, perSql] of statementCounts()) {
              for (const [sql, n] of perSql) this.statementRuns?.set({ db, sql }, n);
            }
          },
        })
      : undefined;
  readonly storeConnections: Gauge = new Gauge({
    name: "bridge_people_store_connections",
    help: "The People accounts' stores with an open SQLite connection now (at most bridge.open_account_stores)",
    registers: [this.registry],
    collect: () => {
      if (this.storesSource) this.storeConnections.set(this.storesSource().open);
    },
  });
  readonly storeOpens: Gauge = new Gauge({
    name: "bridge_people_store_opens",
    help: "SQLite connections the People accounts' stores opened since start (a steady climb: open_account_stores is small for the traffic)",
    registers: [this.registry],
    collect: () => {
      if (this.storesSource) this.storeOpens.set(this.storesSource().opened);
    },
  });
  readonly calls = new Counter({
    name: "bridge_calls_total",
    help:
      "Calls bridged between Element and People, by direction (to_people: a Matrix user called, " +
      "to_matrix: a People address called) and outcome (started, answered, failed)",
    labelNames: ["direction", "outcome"],
    registers: [this.registry],
  });
  readonly homeserverUp = new Gauge({
    name: "bridge_homeserver_connected",
    help: "1 when the homeserver is reachable and knows the appservice",
    registers: [this.registry],
  });

  readonly cryptoMachines = new Gauge({
    name: "bridge_crypto_machines_loaded",
    help: "Crypto machines (one per bridged Matrix identity with a device) in memory now",
    registers: [this.registry],
  });
  readonly cryptoLoads = new Counter({
    name: "bridge_crypto_machine_loads_total",
    help: "Crypto machines loaded (from the database, or made) since start",
    registers: [this.registry],
  });
  readonly cryptoDeviceLists = new Counter({
    name: "bridge_crypto_device_list_routes_total",
    help: "Machines a device-list change was handed to: loaded (now) or queued (kept in the store until it loads)",
    labelNames: ["to"],
    registers: [this.registry],
  });
  readonly cryptoSavedBytes = new Counter({
    name: "bridge_crypto_saved_bytes_total",
    help: "Sealed bytes the crypto machines' saves wrote (only the records that changed)",
    registers: [this.registry],
  });
  readonly cryptoSaves = new Counter({
    name: "bridge_crypto_saves_total",
    help: "Saves of crypto machines that wrote something",
    registers: [this.registry],
  });

  /** The crypto manager's reports (crypto/crypto-manager.ts). */
  readonly crypto = {
    machinesLoaded: (n: number) => this.cryptoMachines.set(n),
    machineLoaded: () => this.cryptoLoads.inc(),
    deviceListRouted: (to: "loaded" | "queued", n: number) => {
      if (n > 0) this.cryptoDeviceLists.inc({ to }, n);
    },
    saved: (bytes: number) => {
      this.cryptoSaves.inc();
      this.cryptoSavedBytes.inc(bytes);
    },
  };

  private outboxSource: (() => Promise<number>) | undefined;
  private retryDepthSource: (() => number) | undefined;
  private storesSource: (() => { open: number; opened: number }) | undefined;
  /** People message id → the Matrix event's origin_server_ts, until the envelope is accepted. */
  private readonly pending = new Map<string, number>();

  constructor(collectDefaults = false) {
    if (collectDefaults) collectDefaultMetrics({ register: this.registry });
  }

  /** Where the outbox gauge reads its value at each scrape. */
  trackOutbox(source: () => Promise<number>): void {
    this.outboxSource = source;
  }

  /** Where the retry queue's depth gauge reads its value at each scrape. */
  trackRetryDepth(source: () => number): void {
    this.retryDepthSource = source;
  }

  /** Where the store connection gauges read their values at each scrape. */
  trackStores(source: () => { open: number; opened: number }): void {
    this.storesSource = source;
  }

  bridged(direction: Direction, kind: string): void {
    this.messages.inc({ direction, kind });
  }

  failed(direction: Direction, reason: string): void {
    this.failures.inc({ direction, reason });
  }

  /** A Matrix event is in a People outbox as `messageId`: its latency is observed when the envelope is accepted. */
  sentToPeople(messageId: string, originServerTs: number | undefined): void {
    if (originServerTs === undefined) return;
    if (this.pending.size >= MAX_PENDING_DELIVERIES) {
      // The oldest first: an envelope waiting that long tells more through the outbox gauge.
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.pending.delete(oldest);
    }
    this.pending.set(messageId, originServerTs);
  }

  /** A People server accepted the envelope of `messageId` (or refused it: `accepted` false). */
  peopleDelivery(messageId: string, accepted: boolean, now = Date.now()): void {
    const origin = this.pending.get(messageId);
    if (origin === undefined) return;
    this.pending.delete(messageId);
    if (accepted) this.latency.observe({ direction: "to_people" }, Math.max(0, now - origin) / 1000);
  }
}

export interface HealthReport {
  ok: boolean;
  [detail: string]: unknown;
}

export interface MetricsServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(o: {
  hostname: string;
  port: number;
  registries: Registry[];
  /** Sets the gauges read at scrape time (the People server's mailbox depth). */
  beforeScrape?: () => Promise<void>;
  health(): Promise<HealthReport>;
}): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "method not allowed\n");
    if (path === "/metrics") {
      const merged = Registry.merge(o.registries);
      (o.beforeScrape ?? (() => Promise.resolve()))()
        .then(() => merged.metrics())
        .then(
          (text) => send(200, merged.contentType, text),
          () => send(500, "text/plain", "metrics unavailable\n"),
        );
      return;
    }
    if (path === "/health") {
      o.health().then(
        (report) => send(report.ok ? 200 : 503, "application/json", JSON.stringify(report)),
        () => send(503, "application/json", JSON.stringify({ ok: false })),
      );
      return;
    }
    send(404, "text/plain", "not found\n");
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = o.hostname.includes(":") ? `[${o.hostname}]` : o.hostname;
  return {
    port,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
