// `people-server`: run the People server of a domain on its own, or manage it.
//   people-server -c config.yaml                    start the server (the `people:` section of the file)
//   people-server invite create|list|revoke -c …     registration invites (admin-commands.ts)
//   people-server account list -c …                  the accounts of the server
//   people-server onion-address -c …                 the onion address it publishes (makes its key)
import { existsSync, mkdirSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { addAdminCommands, AdminError } from "./admin-commands.js";
import { ConfigError, parseServerConfig, readYamlFile, type ServerConfig } from "./config.js";
import { createLogger, type Logger } from "./logger.js";
import { configuredOnion } from "./onion.js";
import { startPeopleServer } from "./people-server.js";

/** The `people:` section of the config file; without config.yaml, the sample's defaults (said in the log). */
function loadConfig(file: string, log?: Logger): ServerConfig {
  let path = file;
  if (!existsSync(path) && path === "config.yaml" && existsSync("config.sample.yaml")) {
    log?.warn(
      "config.yaml not found: starting from config.sample.yaml's defaults (copy it to config.yaml to change them)",
    );
    path = "config.sample.yaml";
  }
  const raw = readYamlFile(path) as { people?: unknown } | null;
  return parseServerConfig(raw?.people, "people");
}

async function serve(file: string): Promise<void> {
  const config = loadConfig(file, createLogger(process.env.LOG_LEVEL ?? "info"));
  const server = await startPeopleServer(config, {
    logger: createLogger(config.log.level),
    defaultMetrics: true,
  });
  const shutdown = (signal: string) => {
    server.log.info({ signal }, "shutting down");
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", () => shutdown("SIGINT"));
  process.once("SIGTERM", () => shutdown("SIGTERM"));
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name("people-server")
    .description(
      "Run the People server of a domain (HTTPS, port 7367 by default); with a command, manage it.",
    )
    .option("-c, --config <file>", "configuration file (its `people:` section)", "config.yaml")
    .option("--json", "commands print JSON for scripts")
    .exitOverride()
    .action(async () => serve(program.opts<{ config: string }>().config));
  addAdminCommands(program, (cmd) => loadConfig(cmd.optsWithGlobals<{ config: string }>().config));
  program
    .command("onion-address")
    .description("print the onion address this server publishes (onion.*), making its key on first use")
    .action((_o, cmd: Command) => {
      const config = loadConfig(cmd.optsWithGlobals<{ config: string }>().config);
      mkdirSync(config.data_dir, { recursive: true, mode: 0o700 });
      const onion = configuredOnion(config);
      if (onion === undefined)
        throw new ConfigError("people.onion", "set control_port or hidden_service_dir");
      console.log(onion);
    });
  await program.parseAsync(argv);
}

main(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  if (err instanceof AdminError) {
    console.error(`people-server: ${err.message}`);
    process.exit(err.exitCode);
  }
  console.error(`people-server: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
