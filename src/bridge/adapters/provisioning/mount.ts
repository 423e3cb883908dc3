// The provisioning API put together from the bridge's parts and the config:
// nothing when provisioning.shared_secret is "disable".
import type { PeopleAccounts } from "../accounts/people-accounts.js";
import type { BridgeConfig } from "../../config.js";
import type { Logger } from "../../logger.js";
import type { GhostSide } from "../../core/ports/matrix-side.js";
import type { Permissions } from "../../core/permissions.js";
import type { Portals } from "../../portals/portals.js";
import type { BridgeStore } from "../../core/ports/store.js";
import { provisioningHandler, type ProvisioningApiOptions } from "./api.js";
import { ProvisioningBackend } from "./backend.js";
import { PROVISIONING_SECRET_FILE, provisioningSecret } from "./secret.js";
import type { RequestHandler } from "../appservice/transactional-appservice.js";

export function provisioningApi(o: {
  config: BridgeConfig;
  accounts: PeopleAccounts;
  ghosts: GhostSide;
  portals: Portals;
  store: BridgeStore;
  permissions: Permissions;
  botUserId: string;
  peopleUrl: string;
  homeserverConnected(): boolean;
  log: Logger;
  hooks?: ProvisioningApiOptions["hooks"];
}): { prefix: string; handle: RequestHandler } | undefined {
  const { prefix, shared_secret: configured } = o.config.provisioning;
  const log = o.log.child({ component: "provisioning" });
  const secret = provisioningSecret(configured, o.config.people.data_dir);
  if (!secret) {
    log.info("provisioning API disabled (provisioning.shared_secret: disable)");
    return undefined;
  }
  const backend = new ProvisioningBackend({
    people: o.accounts,
    connected: (user) => o.accounts.reachable(user),
    ghosts: o.ghosts,
    log,
    portals: o.portals,
    store: o.store,
    homeserverDomain: o.config.homeserver.domain,
    homeserverConnected: o.homeserverConnected,
    peopleDomain: o.config.people.domain,
    peopleUrl: o.peopleUrl,
    botUserId: o.botUserId,
  });
  log.info(
    {
      prefix,
      secret: configured === "generate" ? `in ${PROVISIONING_SECRET_FILE} of people.data_dir` : "from config",
    },
    "provisioning API on the appservice listener",
  );
  const handle = provisioningHandler({
    prefix,
    secret,
    permissions: o.permissions,
    backend,
    log,
    ...(o.hooks ? { hooks: o.hooks } : {}),
  });
  return { prefix, handle };
}
