// The Matrix adapter: matrix-appservice-bridge's Bridge, without its nedb
// stores, listening through the TransactionalAppService, and implementing the
// core's MatrixSide with the bot's intent and GhostSide with the ghosts'
// intents (ghost-intents.ts). These files (with transactional-appservice.ts
// and the CLI) are the only places that import matrix-appservice-bridge.
import {
  AppServiceRegistration,
  AppserviceHttpError,
  Bridge,
  Logger as LibraryLogger,
  type MatrixUser,
  type Request,
  type WeakEvent,
} from "matrix-appservice-bridge";
import type { BridgeConfig } from "../config.js";
import type { Logger } from "../logger.js";
import {
  parseEphemeralEvent,
  parseRoomEvent,
  type EphemeralEvent,
  type MatrixSide,
  type RoomEvent,
  type SendOptions,
} from "../matrix-side.js";
import type { BridgeMetrics } from "../metrics.js";
import { noticeContent, type Notice } from "../notice.js";
import type { Registration } from "../registration.js";
import type { TransactionStore } from "../store/types.js";
import { GhostIntents, txnIdOf } from "./ghost-intents.js";
import { TransactionalAppService } from "./transactional-appservice.js";

export interface AppserviceAdapterOptions {
  config: BridgeConfig;
  registration: Registration;
  transactions: TransactionStore;
  log: Logger;
  metrics: BridgeMetrics;
  /** After each transaction's events were handled (catch-up marks); see TransactionalAppService. */
  afterEvents?(events: readonly Record<string, unknown>[]): Promise<void>;
}

/** Room events from the homeserver, in transaction order; awaited before the transaction is acknowledged. */
export type RoomEventHandler = (event: RoomEvent) => Promise<void>;
/** Ephemeral room events (receipts, typing): best effort, never fail the transaction. */
export type EphemeralHandler = (event: EphemeralEvent) => Promise<void>;

/** matrix-appservice-bridge logs through its own (winston) logger: keep it at our level, as JSON. */
function libraryLogLevel(level: string): "debug" | "info" | "warn" | "error" | "off" {
  if (level === "trace" || level === "debug") return "debug";
  if (level === "silent") return "off";
  if (level === "error" || level === "fatal") return "error";
  // Its info level logs every request; ours shows what an admin needs.
  return "warn";
}

export class AppserviceAdapter implements MatrixSide {
  readonly botUserId: string;
  /** The ghosts (People addresses) acting through their intents. */
  readonly ghosts: GhostIntents;
  private readonly bridge: Bridge;
  private readonly appservice: TransactionalAppService;
  private readonly log: Logger;
  private handler: RoomEventHandler | undefined;
  private ephemeralHandler: EphemeralHandler | undefined;

  /** Builds the bridge; nothing listens until start(). */
  constructor(private readonly o: AppserviceAdapterOptions) {
    LibraryLogger.configure({ console: libraryLogLevel(o.config.logging.level), json: true });
    const log = (this.log = o.log);
    this.botUserId = `@${o.registration.sender_localpart}:${o.config.homeserver.domain}`;
    const onEvent = (event: RoomEvent): Promise<void> =>
      this.handler ? this.handler(event) : Promise.reject(new Error("the appservice is not started"));
    this.bridge = new Bridge({
      homeserverUrl: o.config.homeserver.url,
      domain: o.config.homeserver.domain,
      registration: AppServiceRegistration.fromObject(o.registration as never),
      // The bridge keeps its state in its own knex tables, not in nedb files.
      disableStores: true,
      suppressEcho: true,
      logRequestOutcome: false,
      controller: {
        onEvent(request: Request<WeakEvent>) {
          const event = parseRoomEvent(request.getData());
          if (!event) {
            request.resolve(undefined);
            return;
          }
          onEvent(event).then(
            () => request.resolve(undefined),
            (err: unknown) => request.reject(err),
          );
        },
        onEphemeralEvent: async (request: { getData(): unknown }) => {
          const event = parseEphemeralEvent(request.getData());
          if (!event || !this.ephemeralHandler) return;
          await this.ephemeralHandler(event).catch((err: unknown) =>
            log.debug({ err, type: event.type, room: event.roomId }, "an ephemeral event was not bridged"),
          );
        },
        // A ghost exists for every valid People address: registered on the homeserver's
        // first query (an invite, a profile lookup), named after its address.
        onUserQuery: (user: MatrixUser) => {
          const address = this.ghosts.addressOf(user.getId());
          if (!address) throw new AppserviceHttpError({ errcode: "M_NOT_FOUND", error: "No such user" }, 404);
          return { name: address };
        },
        onLog(text: string, isError: boolean) {
          if (isError) log.warn({ source: "matrix-appservice-bridge" }, text);
          else log.debug({ source: "matrix-appservice-bridge" }, text);
        },
      },
    });
    this.ghosts = new GhostIntents({
      bridge: this.bridge,
      domain: o.config.homeserver.domain,
      prefix: o.config.appservice.ghost_prefix,
      log,
      homeserverUrl: o.config.homeserver.url,
      asToken: o.registration.as_token,
    });
    this.appservice = new TransactionalAppService({
      homeserverToken: o.registration.hs_token,
      transactions: o.transactions,
      log,
      metrics: o.metrics,
      ...(o.afterEvents ? { afterEvents: o.afterEvents } : {}),
    });
  }

  /** Listens for the homeserver's transactions and hands their room events to `handler`. */
  async start(handler: RoomEventHandler, ephemeral?: EphemeralHandler): Promise<void> {
    this.handler = handler;
    this.ephemeralHandler = ephemeral;
    const { hostname, port } = this.o.config.appservice;
    await this.bridge.run(port, this.appservice, hostname);
    this.log.info({ hostname, port: this.appservice.port }, "appservice listening for the homeserver");
  }

  /** The appservice port as bound. */
  get port(): number | undefined {
    return this.appservice.port;
  }

  async ensureBotProfile(displayName: string): Promise<void> {
    const client = this.bridge.getIntent().matrixClient;
    let current: unknown;
    try {
      current = ((await client.getUserProfile(this.botUserId)) as { displayname?: unknown }).displayname;
    } catch (err) {
      // Synapse has no profile row for an appservice's sender until one is set.
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
    if (current !== displayName) {
      await client.setDisplayName(displayName);
      this.log.info({ bot: this.botUserId, displayName }, "bot display name set");
    }
  }

  async joinRoom(roomId: string): Promise<void> {
    await this.bridge.getIntent().join(roomId);
  }

  async leaveRoom(roomId: string, reason?: string): Promise<void> {
    // Straight to /leave: Intent.leave(room, reason) would first try to register the bot.
    await this.bridge.getIntent().matrixClient.leaveRoom(roomId, reason);
  }

  async sendNotice(roomId: string, n: Notice, o: SendOptions): Promise<void> {
    const content = noticeContent(n);
    if (o.inReplyTo) content["m.relates_to"] = { "m.in_reply_to": { event_id: o.inReplyTo } };
    // A stable transaction id: the homeserver answers a repeated send with the first event.
    const txnId = txnIdOf(o.txnKey);
    await this.bridge
      .getIntent()
      .matrixClient.doRequest(
        "PUT",
        `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${txnId}`,
        null,
        content,
      );
    this.log.debug({ room: roomId }, "notice sent");
  }

  async close(): Promise<void> {
    await this.bridge.close();
  }
}
