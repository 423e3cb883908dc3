// matrix-appservice-people: the bridge's command line, with the flags admins
// know from other matrix-appservice-bridge bridges (its Cli class):
//
//   matrix-appservice-people -r -u http://localhost:8090 -f registration.yaml -c config.yaml [--force]
//       generate the appservice registration (fresh tokens, mode 0600; an existing
//       file is kept unless --force)
//   matrix-appservice-people -c config.yaml [-f registration.yaml] [-p PORT]
//       run the bridge (-c defaults to config.yaml)
//
// The first start on a fresh machine (`npm start`, no flags) needs no files:
// without config.yaml it runs on config.sample.yaml's defaults, and without
// registration.yaml it writes one for that config and says what to add to the
// homeserver. Files named with -c or -f must exist.
import { existsSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { Cli } from "matrix-appservice-bridge";
import { startBridge, type BridgeHandle } from "./bridge.js";
import { ConfigError, loadBridgeConfig } from "./config.js";
import { createBridgeLogger } from "./logger.js";
import { startedByWrapper, watchParent } from "./parent-watch.js";
import { generateRegistration, readRegistrationFile, writeRegistrationFile } from "./registration.js";
import { isBridgeError } from "./core/error-kinds.js";

/** The Cli's parsed flags, with --force (nopt keeps flags it does not know). */
interface Args {
  config?: string;
  url?: string;
  force?: boolean;
}

function fail(err: unknown, cli?: Cli<Record<string, unknown>>): never {
  if (err instanceof ConfigError || isBridgeError(err, "registration")) {
    console.error(err.message);
    process.exit(2);
  }
  // The Cli reads both files itself before handing over; a missing one surfaces as ENOENT.
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "ENOENT" && typeof e.path === "string" && cli) {
    const configPath = resolve((cli.getArgs() as Args | null)?.config ?? "config.yaml");
    if (resolve(e.path) === configPath) {
      console.error(
        `config: ${configPath} not found. Copy config.sample.yaml to it and edit it ` +
          "(homeserver.url, homeserver.domain, bridge.permissions, people.domain)",
      );
      process.exit(2);
    }
    if (resolve(e.path) === resolve(cli.getRegistrationFilePath())) {
      console.error(
        `registration: ${resolve(e.path)} not found. Generate it with ` +
          `\`${bridgeCommand()} -r -u http://localhost:8090 -f registration.yaml -c config.yaml\``,
      );
      process.exit(2);
    }
  }
  console.error(e instanceof Error ? e.message : String(err));
  process.exit(1);
}

function writeRegistration(cli: Cli<Record<string, unknown>>): void {
  const args = (cli.getArgs() ?? {}) as Args;
  const config = loadBridgeConfig(args.config ?? "config.yaml");
  const url = args.url ?? "";
  let parsed: URL;
  try {
    parsed = new URL(url);
    if (!/^https?:$/.test(parsed.protocol)) throw new Error("not http");
  } catch {
    throw new ConfigError("", `-u ${url}: expected the http(s) URL the homeserver reaches the bridge at`);
  }
  const path = resolve(cli.getRegistrationFilePath());
  writeRegistrationFile(path, generateRegistration(config, url), { force: args.force === true });
  const port = Number(parsed.port || (parsed.protocol === "https:" ? 443 : 80));
  if (port !== config.appservice.port) {
    console.error(
      `warning: -u ${url} has port ${port}, but the bridge listens on appservice.port ${config.appservice.port}`,
    );
  }
  console.log(
    [
      `Wrote ${path} (mode 0600: it holds the appservice's secrets).`,
      ...homeserverInstructions(path),
      "then restart the homeserver and start the bridge:",
      "",
      `  ${bridgeCommand()} -c ${args.config ?? "config.yaml"} -f ${path}`,
    ].join("\n"),
  );
  process.exit(0);
}

async function run(cli: Cli<Record<string, unknown>>, port: number | null): Promise<void> {
  const args = (cli.getArgs() ?? {}) as Args;
  const config = loadBridgeConfig(args.config ?? "config.yaml");
  if (port) config.appservice.port = port;
  const registrationPath = resolve(cli.getRegistrationFilePath());
  const registration = readRegistrationFile(registrationPath);
  const log = createBridgeLogger(config.logging.level, undefined, config.logging.format);
  // Signals are handled from before the start: one that arrives while the bridge starts
  // stops it as soon as it is up, never kills it halfway.
  let bridge: BridgeHandle | undefined;
  let stopping = false;
  const stop = (handle: BridgeHandle) =>
    handle.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    if (bridge) void stop(bridge);
  };
  process.once("SIGINT", () => shutdown("SIGINT"));
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  if (startedByWrapper()) {
    watchParent(() => {
      log.info("the process that started the bridge (npm or a launcher) is gone");
      shutdown("parent exited");
    });
  }
  try {
    bridge = await startBridge(config, registration, {
      logger: log,
      registrationPath,
      defaultMetrics: true,
    });
  } catch (err) {
    // A port in use and the like: one line in the log's format, naming the key.
    if (!(err instanceof ConfigError)) throw err;
    log.fatal({ config_key: err.path || undefined }, err.message);
    process.exit(2);
  }
  if (stopping) await stop(bridge);
}

/**
 * The command that runs the bridge as written from the current directory: `npx
 * matrix-appservice-people` inside the package (as README says), else the launcher's
 * absolute path (the bare name is on no PATH unless installed globally).
 */
function bridgeCommand(): string {
  const root = resolve(__dirname, "..", "..");
  const cwd = process.cwd();
  const inside = cwd === root || cwd.startsWith(root + sep);
  return inside ? "npx matrix-appservice-people" : join(root, "src", "bridge", "bin.cjs");
}

/** The value of a flag given as `-c x`, `--config x` or `--config=x`. */
function flagValue(flags: string[], ...names: string[]): string | undefined {
  for (const [i, flag] of flags.entries()) {
    for (const name of names) {
      if (flag === name) return flags[i + 1];
      if (flag.startsWith(`${name}=`)) return flag.slice(name.length + 1);
    }
  }
  return undefined;
}

/** The instructions printed after a registration is written: the exact homeserver.yaml lines. */
function homeserverInstructions(path: string): string[] {
  return [
    "Add it to your homeserver's homeserver.yaml:",
    "",
    "  app_service_config_files:",
    `    - ${path}`,
    "",
  ];
}

/** A first start without registration.yaml: write one for this config (its appservice address) and say what to do with it. */
function writeFirstRegistration(configPath: string): void {
  const config = loadBridgeConfig(configPath);
  const path = resolve("registration.yaml");
  const url = `http://${config.appservice.hostname}:${config.appservice.port}`;
  writeRegistrationFile(path, generateRegistration(config, url), {});
  console.log(
    [
      `registration.yaml not found: wrote ${path} for ${url} (mode 0600: it holds the appservice's secrets).`,
      ...homeserverInstructions(path),
      "then restart the homeserver. The bridge starts now and connects once the homeserver knows it.",
    ].join("\n"),
  );
}

export function main(argv: string[] = process.argv): void {
  const flags = argv.slice(2);
  const given = (...names: string[]) =>
    flags.some((a) => names.some((n) => a === n || a.startsWith(`${n}=`)));
  const generating = given("-r", "--generate-registration");
  const help = given("-h", "--help");
  // Like people-server: config.yaml unless told otherwise, and the sample's defaults before there is one.
  if (!given("-c", "--config") && !help) {
    if (!existsSync("config.yaml") && existsSync("config.sample.yaml") && !generating) {
      console.error(
        "config.yaml not found: starting from config.sample.yaml's defaults (copy it to config.yaml to change them)",
      );
      argv.push("-c", "config.sample.yaml");
    } else {
      argv.push("-c", "config.yaml");
    }
  }
  if (!generating && !help && !given("-f", "--file") && !existsSync("registration.yaml")) {
    const configAt = flagValue(argv.slice(2), "-c", "--config");
    try {
      if (configAt && existsSync(configAt)) writeFirstRegistration(configAt);
    } catch (err) {
      fail(err);
    }
  }

  const cli: Cli<Record<string, unknown>> = new Cli({
    registrationPath: "registration.yaml",
    enableLocalpart: false,
    // Validated by loadBridgeConfig (zod, errors naming the key), not by the Cli's JSON schema.
    bridgeConfig: { affectsRegistration: true, schema: { type: "object" }, defaults: {} },
    generateRegistration: () => {
      try {
        writeRegistration(cli);
      } catch (err) {
        fail(err, cli);
      }
    },
    run: (port) => {
      run(cli, port).catch((err: unknown) => fail(err, cli));
    },
  });
  try {
    cli.run();
  } catch (err) {
    fail(err, cli);
  }
}

if (require.main === module) main();
