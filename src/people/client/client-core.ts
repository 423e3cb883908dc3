// The parts of a client that do not depend on its account: the encrypted
// store, HTTPS with the configured trust, discovery, the key directories and
// the outbox. A new device is linked with these before it has an account.
import type { MediaEngine } from "./calls/media-engine.js";
import { PeopleError } from "../errors.js";
import { HttpsClient } from "../net/https-client.js";
import type { TorOptions } from "../net/tor-route.js";
import { addressDomain, type PeopleAddress } from "../protocol/address.js";
import { Directory } from "./directory.js";
import { Discovery, type SrvLookup } from "../net/discovery.js";
import { ClientEvents } from "./events.js";
import type { ReconnectOptions } from "./live-socket.js";
import type { LiveTransport } from "./live-transport.js";
import type { ClientStore } from "./local-store.js";
import { openSqliteClientStore } from "./local-store-sqlite.js";
import { Outbox, type BackoffOptions } from "./outbox.js";
import { ServerDirectory } from "./server-directory.js";
import type { DeliveryRetryOptions } from "./delivery-queue.js";
import type { KdfParams } from "./store-crypto.js";
import type { SqliteHandlePool } from "./store-handles.js";

export interface ClientOptions {
  /** Where the client's SQLite file (and a generated key file, if asked for) live. */
  dataDir: string;
  /** The store key comes from this passphrase (scrypt) … */
  passphrase?: string;
  /** … or from this file of 32 random bytes, created 0600 when absent. */
  keyFile?: string;
  /** Domain → "host:port", skipping .well-known and SRV. */
  pins?: Record<string, string>;
  /** Extra trusted CA certificates (PEM), e.g. a test server's development certificate. */
  ca?: string[];
  srv?: SrvLookup;
  /** A Tor SOCKS5 proxy: .onion servers are reached through it; with `all`, every server is. */
  tor?: TorOptions;
  /** Local source address of this device's connections (tests; multi-homed hosts). */
  localAddress?: string;
  kdf?: KdfParams;
  /** The local store's SQLite page cache, KiB (default SQLite's 2000; the bridge, holding thousands, less). */
  storeCacheKiB?: number;
  /** Open store connections shared with other clients of the process, bounded (the bridge; store-handles.ts). */
  storeHandles?: SqliteHandlePool;
  /** No other process opens this data directory (the bridge's accounts): contacts and servers stay in memory. */
  storeExclusive?: boolean;
  backoff?: BackoffOptions;
  reconnect?: ReconnectOptions;
  /** How the live connection reaches the account's server (default a WebSocket; live-transport.ts). */
  liveTransport?: LiveTransport;
  /** Retries of a received message whose listeners failed (set aside, retried alone; delivery-queue.ts). */
  deliveryRetry?: DeliveryRetryOptions;
  /** Runs before a received envelope is acknowledged, after the listeners: their own writes made durable. */
  beforeAck?: () => Promise<void>;
  /** How long a fetched device list is used to verify incoming mail before asking again (default 30 s). */
  contactMaxAgeMs?: number;
  /** The same when sealing (default 0: fetched fresh for every message while the server answers). */
  sealMaxAgeMs?: number;
  maxAttachmentBytes?: number;
  /** Rotate and erase keys on an hourly timer while started (default true). */
  autoRotate?: boolean;
  /** Linking: how often the new device polls (default 1 s) and how long it waits (default 10 min). */
  linkPollMs?: number;
  linkTimeoutMs?: number;
  now?: () => number;
  /** The WebRTC stack for voice and video calls (calls/wrtc-engine.ts); absent: calls are signalling only. */
  mediaEngine?: MediaEngine;
}

export interface Core {
  o: ClientOptions;
  store: ClientStore;
  http: HttpsClient;
  events: ClientEvents;
  discovery: Discovery;
  servers: ServerDirectory;
  directory: Directory;
  outbox: Outbox;
  now: () => number;
}

export async function openCore(o: ClientOptions): Promise<Core> {
  if ((o.passphrase === undefined) === (o.keyFile === undefined)) {
    throw new PeopleError("PEOPLE_BAD_REQUEST", "give exactly one of passphrase and keyFile");
  }
  const store = await openSqliteClientStore({
    dataDir: o.dataDir,
    key: o.passphrase !== undefined ? { passphrase: o.passphrase } : { keyFile: o.keyFile! },
    ...(o.kdf ? { kdf: o.kdf } : {}),
    ...(o.storeCacheKiB !== undefined ? { cacheKiB: o.storeCacheKiB } : {}),
    ...(o.storeHandles ? { handles: o.storeHandles } : {}),
    ...(o.storeExclusive ? { exclusive: true } : {}),
  });
  const now = o.now ?? Date.now;
  const http = new HttpsClient({
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.tor ? { tor: o.tor } : {}),
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
  });
  const events = new ClientEvents();
  const discovery = new Discovery({
    http,
    ...(o.pins ? { pins: o.pins } : {}),
    ...(o.srv ? { srv: o.srv } : {}),
    ...(o.tor?.all ? { localDns: false } : {}),
    // With a Tor proxy, a server's own onion service is preferred to its clearnet address.
    ...(o.tor ? { preferOnion: true } : {}),
  });
  const base = { store, http, discovery, events, now };
  const servers = new ServerDirectory(base);
  // An account whose keys changed unexplained may sit on a replaced server: check that server's key too.
  // (A changed server key is reported by its own keyChange event; nothing else to do with the outcome here.)
  events.on("keyChange", (e) => {
    if (e.kind !== "account") return;
    const domain = addressDomain(e.subject as PeopleAddress);
    void servers
      .invalidate(domain)
      .then(() => servers.keys(domain))
      .catch(() => undefined);
  });
  return {
    o,
    ...base,
    servers,
    directory: new Directory({
      ...base,
      ...(o.contactMaxAgeMs !== undefined ? { maxAgeMs: o.contactMaxAgeMs } : {}),
      ...(o.sealMaxAgeMs !== undefined ? { sealMaxAgeMs: o.sealMaxAgeMs } : {}),
    }),
    outbox: new Outbox({
      ...base,
      ...(o.backoff ? { backoff: o.backoff } : {}),
      onRefused: (domain, code) =>
        code === "PEOPLE_UNKNOWN_KEY" ? servers.invalidate(domain) : Promise.resolve(),
    }),
  };
}

export async function closeCore(core: Core): Promise<void> {
  core.http.close();
  await core.store.close();
}
