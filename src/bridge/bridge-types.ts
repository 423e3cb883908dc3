// What startBridge takes besides the config and the registration, and the
// handle it gives back (bridge.ts composes; these are its two surfaces).
import type { ClientOptions } from "../people/client/people-client.js";
import type { PeopleServerHandle } from "../people/server/people-server.js";
import type { PeopleAccounts } from "./adapters/accounts/people-accounts.js";
import type { CatchUp, CatchUpLimits } from "./adapters/appservice/catch-up.js";
import type { RetryBackoff } from "./adapters/appservice/event-retry-queue.js";
import type { CommandRegistry } from "./core/commands.js";
import type { BridgeConfig } from "./config.js";
import type { EndToBridge } from "./adapters/crypto/end-to-bridge.js";
import type { ConnectionState, RetryPolicy } from "./homeserver.js";
import type { Logger } from "./logger.js";
import type { BridgeMetrics } from "./metrics.js";
import type { PeopleToMatrixHooks } from "./portals/people-to-matrix-flow.js";
import type { Portals } from "./portals/portals.js";
import type { BridgeStore } from "./core/ports/store.js";

export interface StartBridgeOptions {
  logger?: Logger;
  /** Where registration.yaml is, for the instructions to the admin (default ./registration.yaml). */
  registrationPath?: string;
  /** Backoff of the homeserver connection (default 1 s doubling up to 30 s). */
  retry?: RetryPolicy;
  /** Collect process-wide default metrics (the CLI does; only one bridge per process should). */
  defaultMetrics?: boolean;
  /** Tuning of the users' People clients (tests: faster reconnects and retries). */
  peopleClient?: Pick<ClientOptions, "reconnect" | "backoff" | "autoRotate" | "deliveryRetry">;
  /** Test hooks of the People → Matrix flow. */
  hooks?: PeopleToMatrixHooks;
  /** Bounds of catch-up after homeserver outages (defaults in catch-up.ts). */
  catchUp?: Partial<CatchUpLimits>;
  /** How long and how often a Matrix event that failed for now is tried again (tests: shorter). */
  eventRetries?: { windowMs?: number; backoff?: Partial<RetryBackoff> };
}

export interface BridgeHandle {
  readonly config: BridgeConfig;
  readonly log: Logger;
  readonly store: BridgeStore;
  readonly people: PeopleServerHandle;
  /** The People accounts of the bridge's Matrix users. */
  readonly accounts: PeopleAccounts;
  readonly portals: Portals;
  /** Reads the portal rooms' history for events the homeserver did not deliver. */
  readonly catchUp: CatchUp;
  readonly metrics: BridgeMetrics;
  /** The appservice port as bound. */
  readonly appservicePort: number;
  /** http://host:port of /metrics and /health, when enabled. */
  readonly metricsUrl: string | undefined;
  readonly botUserId: string;
  readonly commands: CommandRegistry;
  /** End-to-bridge encryption, when encryption.allow. */
  readonly e2b: EndToBridge | undefined;
  /** Resolves once the homeserver answers and knows the appservice (never rejects; see connectionState). */
  readonly ready: Promise<void>;
  connectionState(): ConnectionState;
  stop(): Promise<void>;
}
