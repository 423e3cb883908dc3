// startPeopleServer(config): the People server of one domain, as a handle with
// stop(), so the CLI, the bridge and the tests all start the same thing.
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { openStore } from "../../store/index.js";
import type { PeopleStore } from "../../store/types.js";
import { AccountService } from "./account-service.js";
import { AuthService } from "./auth.js";
import { BlobService } from "./blob-service.js";
import { ClusterListener } from "./cluster-notify.js";
import { ClusterRelay } from "./cluster-relay.js";
import { ConfigError, dataPath, storeConfig, type ServerConfig } from "./config.js";
import { configuredOnion, publishOnion } from "./onion.js";
import { clientErrorResponse, errorMiddleware } from "./http.js";
import { IngestService } from "./ingest-service.js";
import { KeyService } from "./key-service.js";
import { LiveHub } from "./live.js";
import { createLogger, type Logger } from "./logger.js";
import { ServerMetrics } from "./metrics.js";
import { accountRoutes } from "./routes/accounts.js";
import { blobRoutes } from "./routes/blobs.js";
import { feedRoutes } from "./routes/feed.js";
import { mailRoutes } from "./routes/mail.js";
import { moveRoutes } from "./routes/moves.js";
import { MoveService } from "./move-service.js";
import { publicRoutes } from "./routes/public.js";
import { turnRoutes } from "./routes/turn.js";
import { relayRoutes } from "./routes/relay.js";
import { proxiedListener, trustedProxies } from "./proxy-protocol.js";
import { RelayService } from "./relay-service.js";
import { SharedRateLimiter } from "./shared-rate-limit.js";
import { loadTls } from "./tls.js";

export const SOFTWARE_VERSION = "0.1.0";
const HOUSEKEEPING_MS = 10 * 60_000;

export interface PeopleServerHandle {
  readonly config: ServerConfig;
  readonly port: number;
  /** https://host:port of this server as bound. */
  readonly url: string;
  /** PEM of the certificate served (for clients that must trust a development certificate). */
  readonly certificate: string;
  readonly store: PeopleStore;
  readonly keys: KeyService;
  readonly accounts: AccountService;
  readonly metrics: ServerMetrics;
  /** Where a device in this process links to live delivery without a socket (the bridge's accounts). */
  readonly live: Pick<LiveHub, "attachInProcess">;
  /**
   * Mail for this server's accounts, for an embedding process that holds accounts closed until they
   * have mail (the bridge's lazy accounts): told each recipient once its envelope is durable, after
   * the live push; `waiting()` lists the addresses with mail still pending (at its start).
   */
  readonly mail: {
    onStored(listener: (address: string) => void): void;
    waiting(): Promise<string[]>;
  };
  /** Sets the gauges that are read at scrape time (mailbox depth). */
  refreshMetrics(): Promise<void>;
  readonly log: Logger;
  /** Run expiry, key rotation and blob collection now (they also run on a timer). */
  housekeeping(now?: number): Promise<void>;
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** An already open store (the bridge shares its own); otherwise one is opened from config.database. */
  store?: PeopleStore;
  /** Collect process-wide default metrics (only one server per process should). */
  defaultMetrics?: boolean;
  /**
   * Serve /metrics on the public port when `metrics.enabled` (default true). An embedding
   * process (the bridge) passes false and serves `metrics.registry` on its own private
   * listener, after `refreshMetrics()`.
   */
  publicMetrics?: boolean;
}

export async function startPeopleServer(
  config: ServerConfig,
  options: StartOptions = {},
): Promise<PeopleServerHandle> {
  const log = options.logger ?? createLogger(config.log.level);
  const cluster = config.cluster.enabled;
  if (cluster && (config.database.engine !== "postgres" || options.store !== undefined)) {
    throw new ConfigError("cluster.enabled", "a domain on several processes needs database.engine: postgres");
  }
  mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
  // This process's id in the mail hints it sends its siblings (cluster-notify.ts).
  const origin = randomBytes(8).toString("hex");
  const store =
    options.store ??
    (await openStore(storeConfig(config), {
      deferredSync: true,
      ...(cluster ? { notifyOrigin: origin } : {}),
    }));
  const ownsStore = options.store === undefined;
  try {
    const metrics = new ServerMetrics(options.defaultMetrics ?? false);
    const keys = await KeyService.load({
      domain: config.domain,
      store: store.serverKeys,
      rotationMs: config.keys.envelope_key_rotation,
      now: Date.now(),
      version: SOFTWARE_VERSION,
    });
    await store.sync(); // keys made at the first start are served at once: on disk first
    const accounts = new AccountService(config.domain, store, config.limits.mailbox_quota_bytes);
    const auth = new AuthService(config.domain, store, config.keys.token_lifetime);
    const { ingest_per_minute_per_ip: perIp, ingest_per_minute_per_recipient: perRecipient } = config.limits;
    const shared = cluster
      ? {
          byIp: new SharedRateLimiter(store.rateCounts, "ip", perIp),
          byRecipient: new SharedRateLimiter(store.rateCounts, "rcpt", perRecipient),
        }
      : undefined;
    const ingest = new IngestService(config.domain, store, keys, metrics, {
      perMinutePerIp: perIp,
      perMinutePerRecipient: perRecipient,
      ...(shared ? { shared } : {}),
    });
    accounts.onDevicesChanged((address) => ingest.devicesChanged(address));
    const moves = new MoveService({ store, forwardDays: config.moves.forward_days });
    ingest.refuseMoved((address, now) => moves.refuseIfMoved(address, now));
    auth.refuseMoved((address, now) => moves.forwarding(address, now));
    const blobsDir = config.storage.blobs_dir
      ? dataPath(config, config.storage.blobs_dir)
      : dataPath(config, "blobs");
    const blobs = new BlobService(blobsDir, store, {
      maxBytes: config.limits.max_blob_bytes,
      quotaBytes: config.limits.blob_quota_bytes,
      lifetimeMs: config.keys.blob_lifetime,
    });
    const tls = await loadTls(
      { cert: config.tls.cert, key: config.tls.key, dataDir: config.data_dir, domain: config.domain },
      log,
    );

    const relay = new RelayService({
      domain: config.domain,
      keys,
      log,
      pins: config.discovery.pins,
      ca: RelayService.readCaFiles(config.discovery.ca_files),
      ...(config.tor.socks ? { tor: { socks: config.tor.socks, all: config.tor.all } } : {}),
    });
    const live = new LiveHub({
      auth,
      store,
      metrics,
      log,
      maxConnections: config.limits.max_connections,
      forwarder: relay,
    });

    const app = new Koa({ proxy: false });
    app.silent = true;
    app.use(errorMiddleware(log, metrics));
    // Commits do not fsync (deferredSync): an answer that may acknowledge a write waits for one,
    // shared by the requests answered meanwhile (a live push of new mail need not wait for it).
    app.use(async (ctx, next) => {
      await next();
      if (ctx.method !== "GET" && ctx.method !== "HEAD") await store.sync();
    });
    const onion = configuredOnion(config);
    if (onion !== undefined && config.domain.endsWith(".onion") && config.domain !== onion) {
      throw new ConfigError("domain", `an onion-only server's domain must be its onion address, ${onion}`);
    }
    const publicAddress =
      config.public_address ??
      (onion === config.domain
        ? `${onion}:${config.onion.virtual_port}`
        : `${config.domain}:${config.listen.port}`);
    // A clearnet server that is also an onion names it, so clients with a Tor proxy may prefer it.
    const onionAddress =
      onion !== undefined && onion !== config.domain ? `${onion}:${config.onion.virtual_port}` : undefined;
    const maxJson = config.limits.max_json_bytes;
    for (const router of [
      publicRoutes({
        publicAddress,
        ...(onionAddress ? { onionAddress } : {}),
        keys,
        store,
        metrics,
        metricsEnabled: config.metrics.enabled && options.publicMetrics !== false,
        noopEndpoint: config.diagnostics.noop_endpoint,
        maxEnvelope: config.limits.max_envelope_bytes,
      }),
      accountRoutes({ accounts, auth, store, registration: config.registration, maxJson }),
      mailRoutes({ ingest, auth, store, maxEnvelope: config.limits.max_envelope_bytes }),
      blobRoutes({ blobs, auth }),
      feedRoutes({ store, auth, maxJson }),
      relayRoutes({ relay, live }),
      moveRoutes({ moves, maxJson }),
      turnRoutes({ auth, turn: config.turn }),
    ]) {
      app.use(router.routes()).use(router.allowedMethods());
    }

    const server: Server = createServer(
      {
        cert: tls.cert,
        key: tls.key,
        requestTimeout: config.limits.request_timeout,
        headersTimeout: config.limits.headers_timeout,
        // Node checks the two timeouts above only this often (30 s by default).
        connectionsCheckingInterval: Math.max(
          250,
          Math.min(5000, Math.floor(config.limits.headers_timeout / 2)),
        ),
        minVersion: "TLSv1.2",
      },
      app.callback(),
    );
    server.maxConnections = config.limits.max_connections;
    server.keepAliveTimeout = 65_000;
    server.on("clientError", (err: { code?: unknown }, socket) => {
      // A timeout or reset has nobody to answer; a malformed request gets the JSON error shape.
      if (socket.writable && String(err.code).startsWith("HPE_")) socket.end(clientErrorResponse(err));
      else socket.destroy();
    });

    live.attach(server);
    ingest.onStored(live);
    let listener: ClusterListener | undefined;
    let siblings: ClusterRelay | undefined;
    if (cluster) {
      const puller = live.pullFromMailbox();
      siblings = new ClusterRelay({
        connection: config.database.connection,
        origin,
        expiryMs: config.cluster.process_expiry,
        log,
        deliver: (f) => live.deliverRelay(f.to, f.from, f.session, f.data),
      });
      await siblings.start();
      live.joinCluster(siblings);
      const relayHere = siblings;
      listener = new ClusterListener({
        connection: config.database.connection,
        origin,
        log,
        onHint: (address, devices) => puller.hint(address, devices),
        onResync: () => puller.hintAll(),
        onRelay: () => relayHere.wake(),
      });
      await listener.start().catch(async (err: unknown) => {
        await relayHere.close();
        throw err;
      });
    }

    // Behind a balancer that sends PROXY headers a plain TCP listener reads them and hands on.
    const front = config.listen.proxy_protocol
      ? proxiedListener(server, {
          trusted: trustedProxies(config.listen.trusted_proxies),
          timeoutMs: config.limits.headers_timeout,
          maxConnections: config.limits.max_connections,
          log,
        })
      : server;
    await new Promise<void>((resolve, reject) => {
      front.once("error", reject);
      front.listen(config.listen.port, config.listen.host, () => {
        front.off("error", reject);
        resolve();
      });
    });
    const port = (front.address() as AddressInfo).port;
    const host =
      config.listen.host === "0.0.0.0" || config.listen.host === "::" ? "127.0.0.1" : config.listen.host;
    let unpublish: () => void = () => undefined;
    try {
      unpublish = await publishOnion(config, { host, port });
    } catch (err) {
      await new Promise<void>((resolve) => front.close(() => resolve()));
      throw err;
    }

    const housekeeping = async (now = Date.now()) => {
      await keys.rotateIfDue(now);
      await store.sync();
      const expired = await store.mailbox.expire(now);
      await store.tokens.expire(now);
      await store.challenges.expire(now);
      await shared?.byIp.expire(now);
      const collected = await blobs.collect(now);
      if (expired + collected > 0) log.info({ expired, collected }, "housekeeping");
    };
    const timer = setInterval(() => {
      housekeeping().catch((err: unknown) => log.error({ err }, "housekeeping failed"));
    }, HOUSEKEEPING_MS);
    timer.unref();

    log.info(
      { domain: config.domain, port, onion: onion ?? null, dev_certificate: tls.devCertPath ?? null },
      "People server listening",
    );
    let stopped: Promise<void> | undefined;
    return {
      config,
      port,
      url: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
      certificate: tls.cert,
      store,
      keys,
      accounts,
      metrics,
      live,
      mail: {
        onStored: (listener) => ingest.onStored({ envelopeStored: (address) => listener(address) }),
        waiting: () => store.mailbox.waitingRecipients(),
      },
      async refreshMetrics() {
        metrics.mailboxDepth.set(await store.mailbox.depth());
      },
      log,
      housekeeping,
      stop() {
        stopped ??= (async () => {
          clearInterval(timer);
          unpublish();
          await listener?.close();
          await live.close();
          await siblings?.close();
          relay.close();
          await new Promise<void>((resolve) => {
            front.close(() => resolve());
            if (front !== server) server.close();
            server.closeAllConnections();
          });
          if (ownsStore) await store.close();
          log.info({ domain: config.domain }, "People server stopped");
        })();
        return stopped;
      },
    };
  } catch (err) {
    if (ownsStore) await store.close();
    throw err;
  }
}
