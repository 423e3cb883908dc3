// The bridge's configuration (config.yaml): one typed object with defaults,
// validated once at start. Every problem is a ConfigError naming the key path,
// the same way the People server reports its `people:` section, which the
// bridge embeds unchanged (serverConfigSchema).
//
// The appservice tokens (as_token, hs_token) are not configuration: they are
// generated into the registration file (`-r`, see registration.ts).
import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import {
  ConfigError,
  parseDuration,
  readYamlFile,
  serverConfigSchema,
  withoutNulls,
} from "../people/server/config.js";
import { accountsSection, matrixRtcSection } from "./config-sections.js";
import { LOG_FORMATS } from "./logger.js";
import { relayConfigSchema } from "./model/relay-format.js";
import { DEFAULT_DISPLAYNAME_TEMPLATE, templateProblem } from "./model/ghost-name.js";
import {
  DEFAULT_GHOSTS_PER_SENDER_PER_HOUR,
  DEFAULT_ROOMS_PER_SENDER_PER_HOUR,
} from "./model/creation-limits.js";

export { ConfigError };
export { DEFAULT_RELAY_BINARY } from "./config-sections.js";

const port = z.number().int().min(0).max(65535);

/** A Matrix server name: a hostname or IP literal, optionally with a port. */
const SERVER_NAME =
  /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;
/** Characters of a Matrix user localpart (the spec's historical grammar is wider, new ones are this). */
const LOCALPART = /^[a-z0-9._=\-/+]+$/;

const duration = z
  .union([z.number().int().positive(), z.string().regex(/^\d+\s*(ms|s|m|h|d)$/, "expected a duration")])
  .transform((v) => (typeof v === "number" ? v : parseDuration(v)));

const serverName = z.string().regex(SERVER_NAME, "expected a Matrix server name such as example.com");

/** A key of bridge.permissions: "*", a server name, or a full Matrix user ID. */
export function isPermissionSubject(key: string): boolean {
  if (key === "*") return true;
  if (key.startsWith("@")) {
    const colon = key.indexOf(":");
    return colon > 1 && SERVER_NAME.test(key.slice(colon + 1));
  }
  return SERVER_NAME.test(key);
}

/** "relay": no People address and no commands, but messages relayed in group rooms with a relay (bridge.relay). */
export const PERMISSION_LEVELS = ["relay", "user", "admin"] as const;
export type PermissionEntry = (typeof PERMISSION_LEVELS)[number];
/** The levels that use the bridge themselves (an address, the bot's commands). */
export type PermissionLevel = Exclude<PermissionEntry, "relay">;

// Where `npm run build:rtc-relay` puts the MatrixRTC media sidecar.

const DEFAULT_WELCOME =
  "Hello, I am the People bridge bot. Through me you reach People addresses (like joe@example.com) " +
  "from Matrix. Send `help` for the list of commands.";

export const bridgeConfigSchema = z
  .strictObject({
    homeserver: z.strictObject({
      /** Where the bridge reaches the homeserver's client-server API. */
      url: z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }),
      /** The homeserver's server name, the part after the colon in user IDs. */
      domain: serverName,
    }),
    appservice: z
      .strictObject({
        /** Where the appservice listens for the homeserver's transactions. */
        hostname: z.string().min(1).default("127.0.0.1"),
        port: port.default(8090),
        id: z
          .string()
          .regex(/^[A-Za-z0-9._-]+$/, "letters, digits, '.', '_' and '-' only")
          .default("people"),
        bot_username: z.string().regex(LOCALPART, "expected a Matrix localpart").default("peoplebot"),
        /** Localpart prefix of the ghost users that stand for People addresses. */
        ghost_prefix: z.string().regex(LOCALPART, "expected a Matrix localpart prefix").default("_people_"),
        /** Rooms whose events of one transaction are handled side by side (each room's in order); 1: one at a time. */
        room_concurrency: z.number().int().min(1).max(256).default(16),
      })
      .prefault({}),
    bridge: z
      .strictObject({
        /** Who may use the bridge: a Matrix user ID, a server name or "*", mapped to a level. */
        permissions: z
          .record(
            z.string().refine(isPermissionSubject, "expected a Matrix user ID, a server name or *"),
            z.enum(PERMISSION_LEVELS),
          )
          .default({}),
        relay: relayConfigSchema,
        /** How many accounts, crypto catch-ups and rooms are started or caught up at once after a start. */
        startup_concurrency: z.number().int().min(1).max(256).default(8),
        /** Bridged users' People stores with an open SQLite connection at once (~250 KiB each); the rest reopen on use. */
        open_account_stores: z.number().int().min(1).max(100_000).default(128),
        /** Bridge-made People accounts: opened when needed, closed after idle_close_seconds unused. */
        accounts: accountsSection,
        groups: z
          .strictObject({
            /**
             * The most People addresses (ghosts) a group room gets: a bigger
             * conversation from People is refused (logged), and so is an invite
             * from Matrix past it.
             */
            max_ghosts: z.number().int().min(2).max(1024).default(64),
          })
          .prefault({}),
        /** Feed rooms (`follow <address>`): a followed address's posts, posted by its ghost. */
        feeds: z
          .strictObject({
            /** How many of the existing posts a new feed room shows, the newest ones, oldest first. */
            backfill_limit: z.number().int().min(0).max(10_000).default(50),
            /**
             * How often every feed room reads its author's feed: public posts come with no
             * notice to followers, so they are found by reading (group posts also by notice).
             */
            poll_interval: duration.default(60_000),
          })
          .prefault({}),
        /**
         * A personal space per Matrix user ("People", as mautrix bridges make) holding the
         * management room, DM and group portals, feed rooms and post rooms.
         */
        personal_space: z
          .strictObject({
            enabled: z.boolean().default(false),
            name: z.string().min(1).max(255).default("People"),
            /** An mxc:// URI for the space's avatar; empty for none. */
            avatar: z.union([z.literal(""), z.string().regex(/^mxc:\/\/[^/]+\/[^/]+$/)]).default(""),
          })
          .prefault({}),
        matrixrtc: matrixRtcSection,
        /**
         * What one People sender's messages may make the bridge create per hour: rooms (group
         * rooms, and DMs their mail opens) and ghosts brought into rooms (other than its own).
         * Past them a group message is shown in the DM with a notice; a new DM is refused (logged).
         */
        limits: z
          .strictObject({
            rooms_per_sender_per_hour: z
              .number()
              .int()
              .min(1)
              .max(100_000)
              .default(DEFAULT_ROOMS_PER_SENDER_PER_HOUR),
            ghosts_per_sender_per_hour: z
              .number()
              .int()
              .min(1)
              .max(100_000)
              .default(DEFAULT_GHOSTS_PER_SENDER_PER_HOUR),
          })
          .prefault({}),
        /**
         * Double puppeting (as mautrix bridges): per homeserver, `as_token:<token>` of an appservice
         * whose user namespace covers its users (not exclusive); the bridge logs each user in with
         * m.login.application_service and shows what they sent from other People devices as sent by them.
         */
        double_puppet: z
          .strictObject({
            secrets: z
              .record(serverName, z.string().regex(/^as_token:\S+$/, "expected as_token:<token>"))
              .default({}),
            /** Client API URLs of homeservers other than homeserver.domain that have a secret. */
            servers: z
              .record(serverName, z.url({ protocol: /^https?$/, error: "expected an http(s) URL" }))
              .default({}),
          })
          .prefault({}),
        management_room_text: z
          .strictObject({
            /** Sent when the bot joins a new management room. */
            welcome: z.string().min(1).default(DEFAULT_WELCOME),
            /** Appended to the answer of `help`. */
            additional_help: z.string().default(""),
          })
          .prefault({}),
        /** A ghost's display name: {displayname} (the People profile's name, else the address) and {address}. */
        displayname_template: z
          .string()
          .superRefine((t, ctx) => {
            const problem = templateProblem(t);
            if (problem) ctx.addIssue({ code: "custom", message: problem });
          })
          .default(DEFAULT_DISPLAYNAME_TEMPLATE),
        /** How old a ghost's People profile may get before the next sight of the ghost fetches it again. */
        profile_refresh_interval: duration.default(86_400_000),
        /** Send com.beeper.message_send_status events for Matrix → People messages (as mautrix bridges do). */
        message_status_events: z.boolean().default(true),
        /**
         * How long a message to People waits in the outbox for a recipient's server that is down
         * before the bridge gives up and tells the sender (1 s to 30 days).
         */
        delivery_timeout: duration
          // 30 days: the longest an envelope may live (PROTOCOL, MAX_TTL_MS).
          .pipe(
            z
              .number()
              .min(1000, "at least 1s")
              .max(30 * 86_400_000, "at most 30d"),
          )
          .default(7 * 86_400_000),
      })
      .prefault({}),
    encryption: z
      .strictObject({
        /** End-to-bridge encryption: the bot and the ghosts get devices and read and write encrypted rooms. */
        allow: z.boolean().default(false),
        /** New portals the bridge creates are encrypted (needs allow). */
        default: z.boolean().default(false),
        /** Refuse to bridge messages in unencrypted rooms (needs allow). */
        require: z.boolean().default(false),
        /**
         * Key of the crypto state kept in the bridge's database: "generate" keeps
         * 32 random bytes in people.data_dir/crypto-store.key; any other value
         * (32 characters or more) is the key itself. Changing it loses every device.
         */
        pickle_key: z
          .string()
          .refine((k) => k === "generate" || k.length >= 32, 'expected "generate" or at least 32 characters')
          .default("generate"),
        /**
         * Most crypto machines (one per ghost with a device) in memory at once:
         * the others are loaded from the database when needed.
         */
        max_machines: z.number().int().min(1).max(100_000).default(64),
        /** A machine unused this long (seconds) is saved and closed; 0 keeps it until the bound needs room. */
        idle_seconds: z.number().int().min(0).max(86_400).default(300),
      })
      .prefault({}),
    database: z
      .strictObject({
        engine: z.enum(["sqlite", "postgres"]).default("sqlite"),
        /** SQLite file (relative to people.data_dir) or PostgreSQL connection string. */
        connection: z.string().min(1).default("bridge.db"),
        pool_max: z.number().int().min(1).max(100).default(5),
      })
      .prefault({}),
    logging: z
      .strictObject({
        level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
        /** json (a JSON object a line), pretty (readable, for a terminal) or auto (pretty on a terminal, else json). */
        format: z.enum(LOG_FORMATS).default("auto"),
      })
      .prefault({}),
    metrics: z
      .strictObject({
        /** Prometheus /metrics and /health of the bridge (and its People server) on their own port. */
        enabled: z.boolean().default(true),
        hostname: z.string().min(1).default("127.0.0.1"),
        port: port.default(9367),
      })
      .prefault({}),
    provisioning: z
      .strictObject({
        /** Path prefix of the provisioning API on the appservice's listener (docs: README, "Provisioning API"). */
        prefix: z
          .string()
          .regex(/^\/[A-Za-z0-9._~\-/]*[A-Za-z0-9._~-]$/, "expected a path such as /_matrix/provision")
          .default("/_matrix/provision"),
        /**
         * The bearer secret of the API: "generate" keeps a random one in
         * people.data_dir/provisioning-secret (made on first start), "disable" turns the
         * API off; any other value (32 characters or more) is the secret itself.
         */
        shared_secret: z
          .string()
          .refine(
            (s) => s === "generate" || s === "disable" || s.length >= 32,
            'expected "generate", "disable" or at least 32 characters',
          )
          .default("generate"),
      })
      .prefault({}),
    people: serverConfigSchema,
  })
  .superRefine((c, ctx) => {
    if (c.appservice.bot_username.startsWith(c.appservice.ghost_prefix)) {
      ctx.addIssue({
        code: "custom",
        path: ["appservice", "bot_username"],
        message: `must not start with the ghost_prefix "${c.appservice.ghost_prefix}"`,
      });
    }
    for (const key of ["default", "require"] as const) {
      if (c.encryption[key] && !c.encryption.allow) {
        ctx.addIssue({
          code: "custom",
          path: ["encryption", key],
          message: "needs encryption.allow: true",
        });
      }
    }
    // The prefix takes every path under it, so it must not cover the homeserver's (or lie within them).
    const [prefix, app] = [c.provisioning.prefix, "/_matrix/app"];
    if (prefix === app || prefix.startsWith(`${app}/`) || app.startsWith(`${prefix}/`)) {
      ctx.addIssue({
        code: "custom",
        path: ["provisioning", "prefix"],
        message: "must not overlap /_matrix/app, where the homeserver talks to the appservice",
      });
    }
    if (c.database.engine === "sqlite" && c.database.connection.includes("://")) {
      ctx.addIssue({
        code: "custom",
        path: ["database", "connection"],
        message: "looks like a URL, but database.engine is sqlite (set engine: postgres)",
      });
    }
    const ports: [string, number][] = [
      ["appservice.port", c.appservice.port],
      ["people.listen.port", c.people.listen.port],
    ];
    if (c.metrics.enabled) ports.push(["metrics.port", c.metrics.port]);
    for (const [i, [key, value]] of ports.entries()) {
      const clash = ports.slice(0, i).find(([, other]) => other === value && value !== 0);
      if (clash) {
        ctx.addIssue({
          code: "custom",
          path: key.split("."),
          message: `port ${value} is already used by ${clash[0]}`,
        });
      }
    }
  });

export type BridgeConfig = z.infer<typeof bridgeConfigSchema>;
export type BridgeConfigInput = z.input<typeof bridgeConfigSchema>;

/** Validate a parsed config.yaml; the first problem is reported with its key path. */
export function parseBridgeConfig(input: unknown): BridgeConfig {
  if (input === undefined || input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new ConfigError("", "the configuration must be a YAML mapping (see config.sample.yaml)");
  }
  const appservice = (input as { appservice?: unknown }).appservice;
  if (appservice && typeof appservice === "object") {
    for (const token of ["as_token", "hs_token"]) {
      if (token in appservice) {
        throw new ConfigError(
          `appservice.${token}`,
          "the tokens live in the registration file (generate it with -r), not in config.yaml",
        );
      }
    }
  }
  const result = bridgeConfigSchema.safeParse(withoutNulls(input));
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const path = issue.path.map(String);
    // An unknown key is reported at the key itself, so the admin finds the line.
    if (issue.code === "unrecognized_keys" && issue.keys.length > 0) {
      throw new ConfigError([...path, issue.keys[0]!].join("."), "unknown key");
    }
    // zod 4 reports a bad record key one level up; name the key itself.
    if (issue.code === "invalid_key") {
      const key = (issue as { path: PropertyKey[] }).path;
      throw new ConfigError(key.map(String).join("."), issue.issues[0]?.message ?? issue.message);
    }
    throw new ConfigError(path.join("."), issue.message);
  }
  return result.data;
}

/** Read and validate a config file. A missing file is explained, pointing at the sample. */
export function loadBridgeConfig(path: string): BridgeConfig {
  if (!existsSync(path)) {
    throw new ConfigError(
      "",
      `${path} not found. Copy config.sample.yaml to ${path} and edit it ` +
        "(homeserver.url, homeserver.domain, bridge.permissions, people.domain)",
    );
  }
  return parseBridgeConfig(readYamlFile(path));
}

/** The bridge's own SQLite file, or PostgreSQL URL, resolved like the People server's paths. */
export function bridgeDatabasePath(config: BridgeConfig): string {
  const { connection } = config.database;
  if (config.database.engine === "postgres" || connection === ":memory:") return connection;
  return isAbsolute(connection) ? connection : resolve(config.people.data_dir, connection);
}
