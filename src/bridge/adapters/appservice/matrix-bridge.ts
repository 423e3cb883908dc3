// The Matrix adapter: matrix-appservice-bridge's Bridge, without its nedb
// stores, listening through the TransactionalAppService, and implementing the
// core's MatrixSide with the bot's intent and GhostSide with the ghosts'
// intents (ghost-intents.ts). These files (with transactional-appservice.ts
// and the CLI) are the only places that import matrix-appservice-bridge.
import { AppserviceHttp } from "./appservice-http.js";
import {
  AppServiceRegistration,
  AppserviceHttpError,
  Bridge,
  type MatrixUser,
  type Request,
  type WeakEvent,
} from "matrix-appservice-bridge";
import type { BridgeConfig } from "../../config.js";
import type { EndToBridge } from "../crypto/end-to-bridge.js";
import type { Logger } from "../../logger.js";
import {
  parseEphemeralEvent,
  parseRoomEvent,
  type EphemeralEvent,
  type MatrixSide,
  type RoomEvent,
  type SendOptions,
} from "../../core/ports/matrix-side.js";
import type { BridgeMetrics } from "../../metrics.js";
import { noticeContent, noticeReplyContent, type Notice } from "../../core/notice.js";
import type { Registration } from "../../registration.js";
import type { TransactionStore } from "../../core/ports/store.js";
import type { EventRetryQueue } from "./event-retry-queue.js";
import { GhostIntents, txnIdOf } from "./ghost-intents.js";
import { routeLibraryLogs } from "./library-logs.js";
import { TransactionalAppService, type RequestHandler } from "./transactional-appservice.js";
import type { TransactionWrites } from "./transaction-writes.js";
import { isBridgeError } from "../../core/error-kinds.js";

export interface AppserviceAdapterOptions {
  config: BridgeConfig;
  registration: Registration;
  transactions: TransactionStore;
  log: Logger;
  metrics: BridgeMetrics;
  /** After each transaction's events were handled (catch-up marks); see TransactionalAppService. */
  afterEvents?(events: readonly Record<string, unknown>[]): Promise<void>;
  /** End-to-bridge encryption, when encryption.allow. */
  e2b?: EndToBridge;
  /** Where room events that failed for now wait for another try (see TransactionalAppService). */
  retries?: EventRetryQueue;
  /** Makes a transaction's writes durable before it is acknowledged (see TransactionalAppService). */
  durable?(): Promise<void>;
  /** The store's changed rows so far: a transaction that changed none is not fsynced. */
  changes?(): Promise<number | undefined>;
  /** Writes the handlers leave pending (see TransactionalAppService). */
  writes?: TransactionWrites;
  /** The homeserver may have failed a push (see TransactionalAppService). */
  onPushFailed?(why: string): void;
  /** Event types (once decrypted) that replay() drops: moments such as MatrixRTC rings. */
  notReplayed?: readonly string[];
}

/** Room events from the homeserver, in transaction order; awaited before the transaction is acknowledged. */
export type RoomEventHandler = (event: RoomEvent) => Promise<void>;
/** Ephemeral room events (receipts, typing): best effort, never fail the transaction. */
export type EphemeralHandler = (event: EphemeralEvent) => Promise<void>;

export class AppserviceAdapter implements MatrixSide {
  readonly botUserId: string;
  /** The ghosts (People addresses) acting through their intents. */
  readonly ghosts: GhostIntents;
  private readonly bridge: Bridge;
  private readonly appservice: TransactionalAppService;
  private readonly log: Logger;
  private handler: RoomEventHandler | undefined;
  private ephemeralHandler: EphemeralHandler | undefined;
  private readonly onRawEvent: (raw: Record<string, unknown>) => Promise<void>;
  private readonly decrypted: (raw: Record<string, unknown>) => Promise<RoomEvent | undefined>;

  /** Builds the bridge; nothing listens until start(). */
  constructor(private readonly o: AppserviceAdapterOptions) {
    routeLibraryLogs(o.log);
    const log = (this.log = o.log);
    this.botUserId = `@${o.registration.sender_localpart}:${o.config.homeserver.domain}`;
    const onEvent = (event: RoomEvent): Promise<void> =>
      this.handler ? this.handler(event) : Promise.reject(new Error("the appservice is not started"));
    const e2b = o.e2b;
    // Encrypted events are decrypted first (or kept until their key arrives), then handled like any other.
    const decrypted = async (raw: Record<string, unknown>): Promise<RoomEvent | undefined> => {
      log.trace({ type: raw.type, room: raw.room_id, event: raw.event_id }, "room event");
      if (e2b) {
        e2b.observe(raw);
        if (raw.type === "m.room.encrypted") {
          const clear = await e2b.decrypt(raw);
          if (!clear) return undefined;
          raw = clear;
        } else {
          const sender = String(raw.sender);
          const fromUs = sender === this.botUserId || this.ghosts.addressOf(sender) !== null;
          if (await e2b.refuseUnencrypted(raw, fromUs)) return undefined;
        }
      }
      return parseRoomEvent(raw);
    };
    const onRawEvent = async (raw: Record<string, unknown>): Promise<void> => {
      const event = await decrypted(raw);
      if (event) await onEvent(event);
    };
    this.decrypted = decrypted;
    this.onRawEvent = onRawEvent;
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
          const raw = request.getData() as unknown;
          if (!raw || typeof raw !== "object") {
            request.resolve(undefined);
            return;
          }
          onRawEvent(raw as Record<string, unknown>).then(
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
        onUserQuery: async (user: MatrixUser) => {
          const address = this.ghosts.addressOf(user.getId());
          if (!address) throw new AppserviceHttpError({ errcode: "M_NOT_FOUND", error: "No such user" }, 404);
          if (e2b) {
            // The device exists before anyone can invite the ghost: a sender's first message
            // (keys shared with invitees) already includes it.
            try {
              await this.bridge.getIntent(user.getId()).ensureRegistered();
              await e2b.ensureDevice(user.getId());
            } catch (err) {
              log.warn(
                { err, ghost: user.getId() },
                "could not make the ghost's device yet; it is made when it joins",
              );
            }
          }
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
      ...(o.e2b ? { e2b: o.e2b } : {}),
    });
    this.appservice = new TransactionalAppService({
      homeserverToken: o.registration.hs_token,
      transactions: o.transactions,
      log,
      metrics: o.metrics,
      ...(o.afterEvents ? { afterEvents: o.afterEvents } : {}),
      ...(o.retries ? { retries: o.retries } : {}),
      ...(o.durable ? { durable: o.durable } : {}),
      ...(o.changes ? { changes: o.changes } : {}),
      ...(o.writes ? { writes: o.writes } : {}),
      ...(o.onPushFailed ? { onPushFailed: o.onPushFailed } : {}),
      roomConcurrency: o.config.appservice.room_concurrency,
    });
  }

  /** Listens for the homeserver's transactions and hands their room events to `handler`. */
  async start(handler: RoomEventHandler, ephemeral?: EphemeralHandler): Promise<void> {
    this.handler = handler;
    this.ephemeralHandler = ephemeral;
    const { hostname, port } = this.o.config.appservice;
    const e2b = this.o.e2b;
    if (e2b) {
      // Machines are loaded before the first transaction can arrive.
      await e2b.start(this.onRawEvent, async (userId, roomId, content, txnKey) => {
        if (userId === this.botUserId) await this.sendNoticeContent(roomId, content, txnKey);
        else await this.ghosts.sendEvent(userId as never, roomId, "m.room.message", content, txnKey);
      });
      this.appservice.setExtensionHandler((x) => e2b.onTransaction(x));
    }
    await this.bridge.run(port, this.appservice, hostname);
    this.log.info({ hostname, port: this.appservice.port }, "appservice listening for the homeserver");
  }

  /**
   * An event read from the room's history (catch-up) goes the transactions' way, decrypted
   * first: handled still encrypted, it was answered "Encrypted messages cannot be bridged".
   * The `notReplayed` types are dropped: a ring heard again after a restart would ring People
   * for a call the restart already ended.
   */
  async replay(event: RoomEvent): Promise<void> {
    const { type, roomId, sender, eventId, stateKey, content, redacts, originServerTs } = event;
    const clear = await this.decrypted({
      ...{ type, room_id: roomId, sender, event_id: eventId, content },
      ...(stateKey !== undefined ? { state_key: stateKey } : {}),
      ...(redacts !== undefined ? { redacts } : {}),
      ...(originServerTs !== undefined ? { origin_server_ts: originServerTs } : {}),
    });
    if (!clear || this.o.notReplayed?.includes(clear.type)) return;
    if (!this.handler) throw new Error("the appservice is not started");
    await this.handler(clear);
  }

  /** Serves every path under `prefix` on the appservice's listener (the provisioning API); before start(). */
  mount(prefix: string, handle: RequestHandler): void {
    this.appservice.mount(prefix, handle);
  }

  /** The appservice port as bound. */
  get port(): number | undefined {
    return this.appservice.port;
  }

  async ensureBotProfile(displayName: string): Promise<void> {
    // Read with plain HTTP: the bot SDK's client logs every failed request as an error, and
    // Synapse answers 500 "No row found" (or 404) for a sender that never had a profile.
    const http = new AppserviceHttp(this.o.config.homeserver.url, this.o.registration.as_token);
    let current: unknown;
    try {
      const path = `/_matrix/client/v3/profile/${encodeURIComponent(this.botUserId)}`;
      current = (await http.request("GET", path, { userId: this.botUserId })).displayname;
    } catch (err) {
      const absent =
        isBridgeError(err, "matrix_http") &&
        (err.status === 404 || (err.status === 500 && err.errcode === "M_UNKNOWN"));
      if (!absent) throw err;
    }
    if (current !== displayName) {
      await this.bridge.getIntent().matrixClient.setDisplayName(displayName);
      this.log.info({ bot: this.botUserId, displayName }, "bot display name set");
    }
  }

  async joinRoom(roomId: string): Promise<void> {
    // The bot's device exists before it is in a room, so senders include it from the start.
    if (this.o.e2b) await this.o.e2b.ensureDevice(this.botUserId);
    await this.bridge.getIntent().join(roomId);
  }

  async leaveRoom(roomId: string, reason?: string): Promise<void> {
    // Straight to /leave: Intent.leave(room, reason) would first try to register the bot.
    await this.bridge.getIntent().matrixClient.leaveRoom(roomId, reason);
  }

  async sendNotice(roomId: string, n: Notice, o: SendOptions): Promise<void> {
    const content = o.inReplyTo ? noticeReplyContent(n, o.inReplyTo) : noticeContent(n);
    await this.sendNoticeContent(roomId, content, o.txnKey);
  }

  private async sendNoticeContent(
    roomId: string,
    content: Record<string, unknown>,
    txnKey: string,
  ): Promise<void> {
    const out = this.o.e2b
      ? await this.o.e2b.prepareSend(this.botUserId, roomId, "m.room.message", content)
      : { type: "m.room.message", content };
    // A stable transaction id: the homeserver answers a repeated send with the first event.
    const txnId = txnIdOf(txnKey);
    await this.bridge
      .getIntent()
      .matrixClient.doRequest(
        "PUT",
        `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/${encodeURIComponent(out.type)}/${txnId}`,
        null,
        out.content,
      );
    this.log.debug({ room: roomId }, "notice sent");
  }

  async close(): Promise<void> {
    await this.bridge.close();
  }
}
