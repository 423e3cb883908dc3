// Prometheus metrics of one server instance (its own registry, so tests can
// start several servers in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export class ServerMetrics {
  readonly registry = new Registry();
  readonly envelopesAccepted = new Counter({
    name: "people_envelopes_accepted_total",
    help: "Envelopes stored durably",
    registers: [this.registry],
  });
  readonly envelopesRejected = new Counter({
    name: "people_envelopes_rejected_total",
    help: "Envelopes refused, by error code",
    labelNames: ["errcode"],
    registers: [this.registry],
  });
  readonly envelopesDuplicate = new Counter({
    name: "people_envelopes_duplicate_total",
    help: "Envelopes already stored (answered as delivered)",
    registers: [this.registry],
  });
  readonly ingestSeconds = new Histogram({
    name: "people_ingest_seconds",
    help: "Time from request to durable write",
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly liveConnections = new Gauge({
    name: "people_live_connections",
    help: "Open device WebSockets",
    registers: [this.registry],
  });
  readonly livePushes = new Counter({
    name: "people_live_pushes_total",
    help: "Envelopes pushed over live connections",
    registers: [this.registry],
  });
  readonly httpRequests = new Counter({
    name: "people_http_requests_total",
    help: "HTTP requests by route and status",
    labelNames: ["route", "status"],
    registers: [this.registry],
  });
  readonly mailboxDepth = new Gauge({
    name: "people_mailbox_depth",
    help: "Envelopes waiting for at least one device",
    registers: [this.registry],
  });

  constructor(collectDefaults = false) {
    if (collectDefaults) collectDefaultMetrics({ register: this.registry });
  }
}
