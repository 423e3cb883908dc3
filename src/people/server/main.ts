// `people-server`: run the People server of a domain on its own.
//   people-server -c config.yaml     (the `people:` section of the file)
import { existsSync } from "node:fs";
import { Command } from "commander";
import { ConfigError, parseServerConfig, readYamlFile } from "./config.js";
import { createLogger } from "./logger.js";
import { startPeopleServer } from "./people-server.js";

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name("people-server")
    .description("Run the People server of a domain (HTTPS, port 7367 by default).")
    .option("-c, --config <file>", "configuration file (its `people:` section)", "config.yaml")
    .parse(argv);
  const { config: file } = program.opts<{ config: string }>();
  let path = file;
  const log = createLogger(process.env.LOG_LEVEL ?? "info");
  if (!existsSync(path) && path === "config.yaml" && existsSync("config.sample.yaml")) {
    log.warn(
      "config.yaml not found: starting from config.sample.yaml's defaults (copy it to config.yaml to change them)",
    );
    path = "config.sample.yaml";
  }
  const raw = readYamlFile(path) as { people?: unknown } | null;
  const config = parseServerConfig(raw?.people, "people");
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

main(process.argv).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(2);
  }
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
