// The People server's configuration: one typed object with defaults, validated
// once at start. Errors name the key that is wrong (ConfigError), as admins expect.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { StoreConfig } from "../../store/types.js";

export class ConfigError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(path ? `config: ${path}: ${message}` : `config: ${message}`);
    this.name = "ConfigError";
  }
}

const duration = z
  .union([z.number().int().positive(), z.string().regex(/^\d+\s*(ms|s|m|h|d)$/)])
  .transform((v) => (typeof v === "number" ? v : parseDuration(v)));

export function parseDuration(text: string): number {
  const m = /^(\d+)\s*(ms|s|m|h|d)$/.exec(text);
  if (!m) throw new ConfigError("", `not a duration: ${text}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    m[2] as "ms" | "s" | "m" | "h" | "d"
  ];
  return Number(m[1]) * unit;
}

/** An IPv4 or IPv6 network as address/prefix (a bare address is one host). */
const cidr = z.string().refine(isCidr, "expected an address/prefix such as 10.0.0.0/8 or ::1/128");

export function isCidr(text: string): boolean {
  const [address, prefix, ...rest] = text.split("/");
  const family = isIP(address ?? "");
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "expected host:port");

export const serverConfigSchema = z.strictObject({
  /** The People domain this server serves: addresses are local@domain. */
  domain: z.string().min(1).max(253),
  listen: z
    .strictObject({
      host: z.string().default("0.0.0.0"),
      port: z.number().int().min(0).max(65535).default(7367),
      /**
       * Behind a load balancer that sends the PROXY protocol v2 header (HAProxy `send-proxy-v2`): the
       * client's address is read from it, so per-IP limits count clients, not the balancer.
       */
      proxy_protocol: z.boolean().default(false),
      /** CIDRs whose connections must start with that header; others that send one are refused. */
      trusted_proxies: z.array(cidr).default([]),
    })
    .prefault({})
    .refine((l) => !l.proxy_protocol || l.trusted_proxies.length > 0, {
      message: "listen.proxy_protocol needs listen.trusted_proxies",
      path: ["trusted_proxies"],
    }),
  /** host:port other servers and clients use to reach this one (served at /.well-known/people). */
  public_address: hostPort.optional(),
  /** Where keys, the SQLite database, blobs and the development certificate live. */
  data_dir: z.string().default("./data"),
  tls: z
    .strictObject({
      /** PEM files; when both are absent a development certificate is made in data_dir on first start. */
      cert: z.string().optional(),
      key: z.string().optional(),
    })
    .prefault({}),
  database: z
    .strictObject({
      engine: z.enum(["sqlite", "postgres"]).default("sqlite"),
      /** SQLite file (relative to data_dir) or PostgreSQL connection string. */
      connection: z.string().default("people.db"),
      pool_max: z.number().int().min(1).max(100).default(10),
    })
    .prefault({}),
  /** Several processes serve this domain behind one name (a load balancer in front): README "Running a domain on several processes". */
  cluster: z
    .strictObject({
      /**
       * Needs database.engine postgres: rate limits are counted in the database and live push reaches
       * sockets on every process (LISTEN/NOTIFY). Login challenges and keys are shared either way.
       */
      enabled: z.boolean().default(false),
      /** A process whose heartbeat is older than this is taken as dead: relay frames no longer go to it. */
      process_expiry: duration.default(10_000),
    })
    .prefault({}),
  storage: z
    .strictObject({
      /** Where blob bytes live (default data_dir/blobs); with cluster.enabled, one directory every process mounts. */
      blobs_dir: z.string().optional(),
    })
    .prefault({}),
  registration: z
    .strictObject({
      /**
       * closed: only with an invite the admin made (`people-server invite create`; the bridge registers
       * its own users); token: also with one of `tokens`; open: anyone.
       */
      mode: z.enum(["closed", "token", "open"]).default("closed"),
      tokens: z.array(z.string().min(16)).default([]),
    })
    .prefault({}),
  limits: z
    .strictObject({
      max_envelope_bytes: z.number().int().min(4096).default(1_200_000),
      mailbox_quota_bytes: z
        .number()
        .int()
        .min(1)
        .default(1024 * 1024 * 1024),
      max_blob_bytes: z
        .number()
        .int()
        .min(1)
        .default(100 * 1024 * 1024),
      blob_quota_bytes: z
        .number()
        .int()
        .min(1)
        .default(5 * 1024 * 1024 * 1024),
      max_json_bytes: z
        .number()
        .int()
        .min(1024)
        .default(512 * 1024),
      max_connections: z.number().int().min(1).default(10_000),
      /** Envelopes accepted per minute from one IP address. */
      ingest_per_minute_per_ip: z.number().int().min(1).default(6000),
      /** Envelopes accepted per minute for one recipient. */
      ingest_per_minute_per_recipient: z.number().int().min(1).default(3000),
      /** A request body must arrive within this time (slow uploads are cut off). */
      request_timeout: duration.default(120_000),
      headers_timeout: duration.default(10_000),
    })
    .prefault({}),
  keys: z
    .strictObject({
      envelope_key_rotation: duration.default(7 * 86_400_000),
      token_lifetime: duration.default(86_400_000),
      blob_lifetime: duration.default(30 * 86_400_000),
    })
    .prefault({}),
  discovery: z
    .strictObject({
      /** Domains pinned to host:port, skipping .well-known and SRV (tests, private deployments). */
      pins: z.record(z.string(), hostPort).default({}),
      /** Extra PEM CA files trusted when talking to other People servers. */
      ca_files: z.array(z.string()).default([]),
    })
    .prefault({}),
  tor: z
    .strictObject({
      /** Tor's SOCKS5 port (host:port, with IsolateSOCKSAuth): .onion servers are reached through it. */
      socks: hostPort.optional(),
      /** Send all traffic to other People servers through it (hides this server's address). */
      all: z.boolean().default(false),
    })
    .prefault({})
    .refine((t) => !t.all || t.socks !== undefined, { message: "tor.all needs tor.socks", path: ["all"] }),
  /** Publish this server as a Tor onion service: give control_port or hidden_service_dir (neither: not published). */
  onion: z
    .strictObject({
      /** The control port of a tor the admin runs: ADD_ONION with the key in data_dir/onion.key. */
      control_port: z.number().int().min(1).max(65535).optional(),
      control_host: z.string().default("127.0.0.1"),
      /** HashedControlPassword's password, or the control_auth_cookie file (CookieAuthentication). */
      control_password: z.string().optional(),
      control_cookie_file: z.string().optional(),
      /** Or a HiddenServiceDir from torrc (tor publishes it; its `hostname` names the address). */
      hidden_service_dir: z.string().optional(),
      /** The onion's port that leads to this server (clients find an onion server on 443). */
      virtual_port: z.number().int().min(1).max(65535).default(443),
    })
    .prefault({})
    .refine((o) => o.control_port === undefined || o.hidden_service_dir === undefined, {
      message: "give one of onion.control_port and onion.hidden_service_dir, not both",
    }),
  /** A TURN relay for this server's devices' calls: short-lived REST-style credentials (PROTOCOL §16.12). */
  turn: z
    .strictObject({
      /** turn:, turns: or stun: URIs of the relay (coturn with use-auth-secret). Empty: none. */
      uris: z
        .array(z.string().regex(/^(turns?|stuns?):[^\s]+$/, "expected a turn:, turns: or stun: URI"))
        .default([]),
      /** coturn's static-auth-secret. */
      shared_secret: z.string().min(16).optional(),
      /** How long issued credentials stay valid. */
      ttl: duration.default(3_600_000),
    })
    .prefault({})
    .refine((t) => t.uris.length === 0 || t.shared_secret !== undefined, {
      message: "turn.uris needs turn.shared_secret",
      path: ["shared_secret"],
    }),
  moves: z
    .strictObject({
      /** After an account moved: days its devices may still read the old mailbox (PROTOCOL §20). */
      forward_days: z.number().int().min(0).max(3650).default(30),
    })
    .prefault({}),
  metrics: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
  diagnostics: z
    .strictObject({
      /** POST /_people/v1/diagnostics/noop reads its body and answers {}: the transport baseline of `npm run bench`. */
      noop_endpoint: z.boolean().default(false),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
    })
    .prefault({}),
});

export type ServerConfig = z.infer<typeof serverConfigSchema>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;

/** Validate a parsed config object; the first problem is reported with its key path. */
export function parseServerConfig(input: unknown, prefix = ""): ServerConfig {
  if (input === undefined || input === null) throw new ConfigError(prefix, "section is missing");
  const result = serverConfigSchema.safeParse(withoutNulls(input));
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path = [prefix, ...issue.path.map(String)].filter(Boolean).join(".");
    throw new ConfigError(path, issue.message);
  }
  return result.data;
}

export function readYamlFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    throw new ConfigError("", `cannot read ${path}: ${(cause as Error).message}`);
  }
  try {
    return parseYaml(text, { maxAliasCount: 100 });
  } catch (cause) {
    throw new ConfigError("", `${path} is not valid YAML: ${(cause as Error).message}`);
  }
}

/** Resolve a path from the config relative to the data directory. */
export function dataPath(config: ServerConfig, path: string): string {
  return isAbsolute(path) ? path : resolve(config.data_dir, path);
}

/** The store the config names (the server and its admin commands open the same one). */
export function storeConfig(config: ServerConfig): StoreConfig {
  return config.database.engine === "sqlite"
    ? { engine: "sqlite", connection: dataPath(config, config.database.connection) }
    : { engine: "postgres", connection: config.database.connection, poolMax: config.database.pool_max };
}

/** In YAML an empty key (`tls:` with everything commented out) is null: treat it as not set. */
export function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== null)
        .map(([k, v]) => [k, withoutNulls(v)]),
    );
  }
  return value;
}
