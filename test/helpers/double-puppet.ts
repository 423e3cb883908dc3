// The registration an admin adds to the homeserver for double puppeting, as
// mautrix's docs describe it: no URL (the homeserver sends it nothing), a user
// namespace covering every user of the server, not exclusively, and an
// as_token the bridge is given as `as_token:<token>` in bridge.double_puppet.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify as toYaml } from "yaml";

export interface DoublePuppetRegistration {
  /** The file to give Synapse (app_service_config_files). */
  path: string;
  /** bridge.double_puppet.secrets[serverName]. */
  secret: string;
}

export function writeDoublePuppetRegistration(
  dir: string,
  serverName = "localhost",
): DoublePuppetRegistration {
  const asToken = randomBytes(32).toString("hex");
  const path = join(dir, "doublepuppet.yaml");
  writeFileSync(
    path,
    toYaml({
      id: "doublepuppet",
      url: null,
      as_token: asToken,
      hs_token: randomBytes(32).toString("hex"),
      sender_localpart: `doublepuppet-${randomBytes(8).toString("hex")}`,
      rate_limited: false,
      namespaces: { users: [{ regex: `@.*:${serverName.replace(/\./g, "\\.")}`, exclusive: false }] },
    }),
    { mode: 0o600 },
  );
  return { path, secret: `as_token:${asToken}` };
}
