// startBridge(config, registration): the whole bridge as a handle with stop(), so the CLI and the
// tests start the same thing. It composes the bridge's store (migrated first), the bridge secret and
// the embedded People server of the bridge's domain, the People accounts of the Matrix users, the
// appservice (through the adapter, exactly-once transactions), the bot and its commands, the DM and
// group portals, feed and post rooms, personal spaces, the homeserver connection (retried with
// backoff) with catch-up of the rooms' history when it comes back, /metrics, /health, provisioning.
import { resolve } from "node:path";
import { startPeopleServer } from "../people/server/people-server.js";
import { BridgeSecret, withBridgeRegistration } from "./adapters/accounts/bridge-secret.js";
import { PeopleAccounts } from "./adapters/accounts/people-accounts.js";
import { inProcessTransport } from "../people/client/live-transport.js";
import { accountsProfileReader, conversationUsersIn } from "./adapters/accounts/profile-reader.js";
import { peopleNetwork } from "./adapters/accounts/people-network.js";
import { CatchUp } from "./adapters/appservice/catch-up.js";
import { AppserviceAdapter } from "./adapters/appservice/matrix-bridge.js";
import { EventRetryQueue } from "./adapters/appservice/event-retry-queue.js";
import { TransactionWrites } from "./adapters/appservice/transaction-writes.js";
import { HttpRoomHistory } from "./adapters/appservice/room-history.js";
import { ManagementBot } from "./core/bot.js";
import { helpCommand, statusCommand } from "./core/bot-commands.js";
import { CommandRegistry } from "./core/commands.js";
import { AppserviceHttp } from "./adapters/appservice/appservice-http.js";
import { CryptoStoreKey } from "./adapters/crypto/crypto-store-key.js";
import { EndToBridge } from "./adapters/crypto/end-to-bridge.js";
import { ConfigError, bridgeDatabasePath, type BridgeConfig } from "./config.js";
import { HomeserverConnection } from "./homeserver.js";
import { GhostProfiles, profiledGhosts } from "./profiles/ghost-profiles.js";
import { listenOn } from "./listen-errors.js";
import { createBridgeLogger } from "./logger.js";
import { BridgeMetrics, startMetricsServer, type MetricsServer } from "./metrics.js";
import { Permissions } from "./core/permissions.js";
import { dmCommand } from "./portals/dm-command.js";
import { createFeeds } from "./feeds/feeds.js";
import { personalSpaces } from "./spaces/personal-spaces.js";
import { spaceRequests } from "./adapters/appservice/space-requests.js";
import { createBridgeCalls } from "./calls/bridge-calls.js";
import { bridgeRtc, RTC_EVENT_TYPES, type BridgeRtc } from "./rtc-wiring.js";
import type { ProcessedToDeviceEvent } from "@matrix-org/matrix-sdk-crypto-wasm";
import { keyChangeNotices } from "./portals/key-change-notices.js";
import { createPortals } from "./portals/portals.js";
import { DEFAULT_RETRY_WINDOW_MS, RetryWindow } from "./portals/retry-window.js";
import { registrationMismatches, type Registration } from "./registration.js";
import { openBridgeStore } from "./adapters/store/open-bridge-store.js";
import type { RoomEvent } from "./core/ports/matrix-side.js";
import type { PeopleAddress } from "../people/protocol/address.js";
import { trustCommands } from "./trust/trust-commands.js";
import { loginCommands } from "./adapters/accounts/login-commands.js";
import { provisioningApi } from "./adapters/provisioning/mount.js";
import { bridgeStatusBase, bridgeStatusSource } from "./status-source.js";
import { bridgeHealth } from "./health.js";
import { PACKAGE } from "./version.js";
import type { BridgeHandle, StartBridgeOptions } from "./bridge-types.js";
import { doublePuppets } from "./adapters/puppets/double-puppets.js";
import { moveCommand } from "./adapters/accounts/move-command.js";
import { pruneTransactions } from "./transaction-pruning.js";

export const BOT_DISPLAY_NAME = "People bridge";
export type { BridgeHandle, StartBridgeOptions } from "./bridge-types.js";

export async function startBridge(
  config: BridgeConfig,
  registration: Registration,
  options: StartBridgeOptions = {},
): Promise<BridgeHandle> {
  const log = options.logger ?? createBridgeLogger(config.logging.level, undefined, config.logging.format);
  const problems = registrationMismatches(registration, config);
  if (problems.length > 0) {
    throw new ConfigError(
      "",
      `the registration file does not fit config.yaml (${problems.join("; ")}); ` +
        "generate it again with -r, then reload the homeserver",
    );
  }
  const registrationPath = resolve(options.registrationPath ?? "registration.yaml");
  const homeserverUrl = config.homeserver.url.replace(/\/+$/, "");
  const cleanup: (() => Promise<void>)[] = [];
  const unwind = async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  };

  try {
    const store = await openBridgeStore({
      engine: config.database.engine,
      connection: bridgeDatabasePath(config),
      poolMax: config.database.pool_max,
    });
    cleanup.push(() => store.close());

    const secret = BridgeSecret.load(config.people.data_dir);
    cleanup.push(async () => secret.erase());

    const { host: peopleHost, port: peoplePort } = config.people.listen;
    const people = await listenOn("people.listen.port", peopleHost, peoplePort, () =>
      startPeopleServer(withBridgeRegistration(config.people, secret.registrationToken()), {
        logger: log.child({ component: "people-server" }, { level: config.people.log.level }),
        // Its counters are on the bridge's private metrics listener, not its public port.
        publicMetrics: false,
      }),
    );
    cleanup.push(() => people.stop());

    const accounts = new PeopleAccounts({
      dataDir: config.people.data_dir,
      peopleDomain: config.people.domain,
      homeserverDomain: config.homeserver.domain,
      secret,
      network: peopleNetwork(config.people, people),
      liveTransport: inProcessTransport(people.live), // in-process mail, waking closed accounts: no socket each
      store: store.peopleAccounts,
      logins: store.logins,
      choices: store.addressChoices,
      log: log.child({ component: "people-accounts" }),
      maxAttachmentBytes: config.people.limits.max_blob_bytes,
      ...(options.peopleClient ? { client: options.peopleClient } : {}),
      beforeAck: () => store.sync(),
      openStores: config.bridge.open_account_stores,
      lazy: { mail: people.mail, ...config.bridge.accounts },
    });

    const metrics = new BridgeMetrics(options.defaultMetrics ?? false);
    accounts.onDelivery((messageId, accepted) => metrics.peopleDelivery(messageId, accepted));
    metrics.trackOutbox(() => accounts.outboxSize());
    metrics.trackStores(() => ({ open: accounts.storeHandles.size, opened: accounts.storeHandles.opened }));
    const commands = new CommandRegistry();

    // Matrix events that failed for now, tried again alone (the handlers' window, seeded by the queue).
    const windowMs = options.eventRetries?.windowMs ?? DEFAULT_RETRY_WINDOW_MS;
    const retryWindow = new RetryWindow(windowMs);
    const retries = new EventRetryQueue({
      store: store.eventRetries,
      log: log.child({ component: "retry-queue" }),
      metrics,
      window: retryWindow,
      maxAgeMs: 2 * windowMs,
      ...(options.eventRetries?.backoff ? { backoff: options.eventRetries.backoff } : {}),
    });
    metrics.trackRetryDepth(() => retries.depth);

    // Its callbacks use the adapter, the portals and the bot, made below and called only once started.
    const writes = new TransactionWrites(); // Matrix → People fsyncs shared by a transaction's events
    const catchUp: CatchUp = new CatchUp({
      marks: store.catchUp,
      history: new HttpRoomHistory({ homeserverUrl, asToken: registration.as_token }),
      async readerOf(roomId) {
        const portal = await portals.service.byRoom(roomId);
        return portal && adapter.ghosts.ghostId(portal.peopleAddress as PeopleAddress);
      },
      bridged: async (eventId) =>
        retries.has(eventId) || (await store.messages.byEvent(eventId)) !== undefined,
      isOwnUser: (userId) => userId === adapter.botUserId || adapter.ghosts.addressOf(userId) !== null,
      handle: (event) => writes.outside(() => adapter.replay(event)), // decrypted, as a transaction's
      log: log.child({ component: "catch-up" }),
      metrics,
      ...(options.catchUp ? { limits: options.catchUp } : {}),
      concurrency: config.bridge.startup_concurrency,
    });
    const http = new AppserviceHttp(homeserverUrl, registration.as_token);
    let e2b: EndToBridge | undefined;
    const rtcOn = config.bridge.matrixrtc.enabled;
    const rtcLate: { rtc?: BridgeRtc } = {}; // made below; the machines hand it the media keys they decrypt
    if (config.encryption.allow) {
      const key = CryptoStoreKey.fromConfig(config.encryption.pickle_key, config.people.data_dir);
      cleanup.push(async () => key.erase());
      e2b = new EndToBridge({
        config: config.encryption,
        store: store.crypto,
        key,
        http,
        log,
        botUserId: `@${registration.sender_localpart}:${config.homeserver.domain}`,
        deviceDisplayName: BOT_DISPLAY_NAME,
        concurrency: config.bridge.startup_concurrency,
        metrics: metrics.crypto,
        ...(rtcOn
          ? { onToDevice: (u: string, p: ProcessedToDeviceEvent[]) => rtcLate.rtc?.onToDevice(u, p) }
          : {}),
      });
      const machines = e2b;
      cleanup.push(() => machines.close());
    }
    const adapter = new AppserviceAdapter({
      config,
      registration,
      transactions: store.transactions,
      log,
      metrics,
      ...catchUp.hooks(), // each transaction's events, and pushes the homeserver may have failed
      retries,
      durable: () => store.sync(),
      ...(store.changes ? { changes: store.changes.bind(store) } : {}),
      writes,
      notReplayed: RTC_EVENT_TYPES,
      ...(e2b ? { e2b } : {}),
    });
    const permissions = new Permissions(config.bridge.permissions);
    const ghostProfiles = new GhostProfiles({
      ghosts: adapter.ghosts,
      reader: accountsProfileReader(accounts, store.peopleAccounts, conversationUsersIn(store)),
      store: store.ghostProfiles,
      log: log.child({ component: "ghost-profiles" }),
      metrics,
      template: config.bridge.displayname_template,
      refreshIntervalMs: config.bridge.profile_refresh_interval,
    });
    cleanup.push(() => ghostProfiles.close());
    const ghosts = profiledGhosts(adapter.ghosts, ghostProfiles);
    // Set once the connection exists: while the homeserver is away, People → Matrix retries do not count toward giving up.
    const homeserver: { connection?: HomeserverConnection } = {};
    const puppets = doublePuppets(config, homeserverUrl, store, secret, log);
    const portals = createPortals({
      ...(puppets ? { puppets } : {}),
      homeserverDown: () => homeserver.connection?.state !== "connected",
      ghosts,
      people: accounts,
      store,
      permissions,
      log,
      metrics,
      maxMediaBytes: config.people.limits.max_blob_bytes,
      maxGroupGhosts: config.bridge.groups.max_ghosts,
      relay: config.bridge.relay,
      limits: {
        roomsPerHour: config.bridge.limits.rooms_per_sender_per_hour,
        ghostsPerHour: config.bridge.limits.ghosts_per_sender_per_hour,
      },
      retry: retryWindow,
      deferWrite: (write) => writes.defer(write),
      sendStatus: { events: config.bridge.message_status_events, timeoutMs: config.bridge.delivery_timeout },
      ...(options.hooks ? { hooks: options.hooks } : {}),
      bridgeInfo: { botUserId: adapter.botUserId, peopleDomain: config.people.domain },
    });
    const feeds = createFeeds({
      ghosts,
      people: accounts,
      store,
      log,
      config,
      matrix: adapter,
      retry: retryWindow,
      profiles: ghostProfiles,
    });
    const calls = createBridgeCalls({ ghosts, people: accounts, store, portals, permissions, metrics, log });
    if (rtcOn && !e2b)
      log.info("MatrixRTC calls are not bridged: they need encryption.allow (media keys go over Olm)");
    const rtcParts = { homeserverUrl, http, ghosts, people: accounts, portals, adapter, store, log, config };
    const rtc = (rtcLate.rtc = rtcOn && e2b ? bridgeRtc(e2b, rtcParts) : undefined);
    const callFlow = calls.withOwnFlow(portals.toMatrix.handle);
    accounts.onMessage(feeds.withOwnFlows(rtc ? rtc.withOwnFlow(callFlow) : callFlow));
    accounts.onKeyChange(
      keyChangeNotices({
        ghosts,
        service: portals.service,
        log: log.child({ component: "portals" }),
      }),
    );
    const status = bridgeStatusBase({ config, homeserverUrl, people });
    commands.register(
      helpCommand(commands, config.bridge.management_room_text.additional_help),
      statusCommand(bridgeStatusSource(status, { accounts, store, retries })),
      dmCommand(portals.service),
      ...trustCommands(accounts),
      ...loginCommands({
        accounts,
        peopleDomain: config.people.domain,
        tell: (roomId, n, txnKey) => adapter.sendNotice(roomId, n, { txnKey }),
        log: log.child({ component: "logins" }),
        ...(puppets ? { puppets } : {}),
      }),
      moveCommand({
        accounts,
        tell: (roomId, n, txnKey) => adapter.sendNotice(roomId, n, { txnKey }),
        log: log.child({ component: "moves" }),
      }),
      ...feeds.commands,
      ...portals.relayHelp,
    );
    const bot = new ManagementBot({
      matrix: adapter,
      rooms: store.managementRooms,
      permissions,
      commands,
      welcome: config.bridge.management_room_text.welcome,
      log,
      metrics,
    });
    cleanup.push(() => adapter.close());
    // Closed before the appservice and the People server: nothing is received that could not be handled.
    cleanup.push(() => accounts.close(), feeds.stop);
    if (rtc) cleanup.push(rtc.stop); // both legs of every MatrixRTC call end first
    const spaces = personalSpaces(config.bridge.personal_space, {
      matrix: spaceRequests(http, adapter.botUserId, config.homeserver.domain),
      ...{ store, log: log.child({ component: "spaces" }) },
    });
    const handleEvent = async (event: RoomEvent) => {
      await bot.handle(event);
      if (!(await feeds.handle(event)) && !(await rtc?.handle(event)) && !(await calls.handle(event)))
        await portals.events.handle(event);
      await spaces.onEvent(event);
    };
    // Stopped before the store closes (cleanup runs in reverse).
    cleanup.push(() => catchUp.stop());
    const provisioning = provisioningApi({
      ...{ config, accounts, ghosts, portals, store, permissions, log, peopleUrl: people.url },
      botUserId: adapter.botUserId,
      homeserverConnected: () => homeserver.connection?.state === "connected",
    });
    if (provisioning) adapter.mount(provisioning.prefix, provisioning.handle);
    await listenOn("appservice.port", config.appservice.hostname, config.appservice.port, () =>
      adapter.start(handleEvent, (event) => portals.events.handleEphemeral(event)),
    );

    const connection = (homeserver.connection = new HomeserverConnection({
      url: homeserverUrl,
      domain: config.homeserver.domain,
      asToken: registration.as_token,
      botUserId: adapter.botUserId,
      registrationPath,
      log,
      metrics,
      ...(options.retry ? { retry: options.retry } : {}),
      onConnected: async () => {
        await adapter.ensureBotProfile(BOT_DISPLAY_NAME);
        await e2b?.connected();
      },
      onRecovered: (reason) => catchUp.request(reason),
      onQuiet: () => catchUp.checkpoint(),
    }));
    connection.start();
    cleanup.push(() => connection.stop());
    void connection.ready.then(() => catchUp.request("start"));
    // Bridge state events of the portals made before this start (or before it was set).
    void connection.ready.then(() =>
      portals.state?.syncAll().catch((err: unknown) => log.warn({ err }, "bridge state check failed")),
    );
    // Mail for the users is taken from the People server only once it can reach their rooms; feeds read on then.
    void connection.ready
      .then(() => accounts.startAll(config.bridge.startup_concurrency))
      .then(() => Promise.all([feeds.service.start(), calls.start(), rtc?.endLeftovers()]));
    void connection.ready.then(() => spaces.syncAll());
    let metricsServer: MetricsServer | undefined;
    if (config.metrics.enabled) {
      const { hostname, port } = config.metrics;
      metricsServer = await listenOn("metrics.port", hostname, port, () =>
        startMetricsServer({
          hostname,
          port,
          registries: [metrics.registry, people.metrics.registry],
          beforeScrape: () => people.refreshMetrics(),
          health: () => bridgeHealth({ store, peopleStore: people.store, connection }),
        }),
      );
      const server = metricsServer;
      cleanup.push(() => server.close());
    }

    cleanup.push(pruneTransactions(store.transactions, log));

    log.info(
      {
        version: PACKAGE.version,
        homeserver: config.homeserver.url,
        people_domain: config.people.domain,
        people_url: people.url,
        bot: adapter.botUserId,
        metrics: metricsServer?.url ?? null,
      },
      "bridge started",
    );

    let stopped: Promise<void> | undefined;
    return {
      config,
      log,
      store,
      people,
      accounts,
      portals,
      catchUp,
      metrics,
      appservicePort: adapter.port ?? config.appservice.port,
      metricsUrl: metricsServer?.url,
      botUserId: adapter.botUserId,
      commands,
      e2b,
      ready: connection.ready,
      connectionState: () => connection.state,
      stop() {
        stopped ??= (async () => {
          await unwind();
          log.info("bridge stopped");
        })();
        return stopped;
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
