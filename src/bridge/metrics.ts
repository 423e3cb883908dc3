// The bridge's Prometheus metrics (its own registry) and the small HTTP
// server for /metrics and /health on config.metrics.port. /metrics also
// carries the embedded People server's registry.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class BridgeMetrics {
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
    help: "Matrix events that failed for now and made the homeserver resend their transaction",
    registers: [this.registry],
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
  readonly ghostProfiles = new Counter({
    name: "bridge_ghost_profile_refreshes_total",
    help: "People profiles fetched for ghosts' names and avatars, by outcome (updated, failed)",
    labelNames: ["outcome"],
    registers: [this.registry],
  });
  readonly homeserverUp = new Gauge({
    name: "bridge_homeserver_connected",
    help: "1 when the homeserver is reachable and knows the appservice",
    registers: [this.registry],
  });

  constructor(collectDefaults = false) {
    if (collectDefaults) collectDefaultMetrics({ register: this.registry });
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
      merged.metrics().then(
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
