// The appservice HTTP endpoint with exactly-once transactions.
//
// matrix-appservice's AppService remembers only the last transaction id, in
// memory, and acknowledges a transaction before its events are handled. Here
// PUT /_matrix/app/v1/transactions/{txnId} is answered only after every event
// was handled (rooms side by side, each room's events in order: room-lanes.ts)
// and the id was recorded in processed_transactions; a transaction
// id seen before is acknowledged without processing it again, across restarts.
// A transaction arriving again while the first delivery is still in flight waits for it (and the
// store is fsynced, durable(), before any answer). A handler that throws RetryLater (a failure that
// may pass) has its event kept in the retry queue (event-retry-queue.ts), durably, and the
// transaction goes on: the homeserver has one queue for all users, which one event must not hold
// up. If the id or the event cannot be recorded (database down), the answer is a 500 and the
// homeserver retries later. A crash between handling and recording means the transaction is
// handled again when the homeserver retries; sends use stable transaction ids (MatrixSide.sendNotice's
// txnKey) so the answers are not doubled. Every other route (user and alias queries, /health, legacy
// paths) is served by the AppService's own express app, and events reach matrix-appservice-bridge
// through the AppService's "event" listeners as usual.
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { AppService } from "matrix-appservice-bridge";
import type { Logger } from "../../logger.js";
import type { BridgeMetrics } from "../../metrics.js";
import type { TransactionStore } from "../../core/ports/store.js";
import type { EventRetryQueue } from "./event-retry-queue.js";
import type { TransactionWrites } from "./transaction-writes.js";
import {
  isEmpty,
  parseTransactionExtensions,
  type TransactionExtensions,
} from "../crypto/transaction-extensions.js";
import { BridgeError, isBridgeError, isRetryLater } from "../../core/error-kinds.js";
import { COUNTED_TYPES } from "./counted-types.js";
import { runInRoomLanes, type LaneItem } from "./room-lanes.js";
import { transactionHash } from "./transaction-hash.js";

export { eventsHash, transactionHash } from "./transaction-hash.js";

/**
 * Receives a transaction's to-device events, device-list changes and key
 * counts (MSC2409/MSC3202) before its room events; resolves once they are
 * saved, so a room key arrives before the event it opens and nothing fed
 * in is lost if the process dies before the acknowledgement.
 */
export type ExtensionHandler = (x: TransactionExtensions) => Promise<void>;

const TXN_PATH = /^\/_matrix\/app\/v1\/transactions\/([^/?#]+)(?:\?.*)?$/;
/** Larger than a homeserver's largest transaction (100 events of up to 64 KiB, plus ephemeral data). */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

type Json = Record<string, unknown>;
/** Rooms handled side by side within a transaction when the config does not say. */
export const DEFAULT_ROOM_CONCURRENCY = 16;
/** A node request handler for a mounted prefix. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

function hashToken(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/** A refused transaction: an `appservice_http` BridgeError with the status and errcode to answer. */
function httpError(status: number, errcode: string, message: string): BridgeError {
  return new BridgeError("appservice_http", message, { status, errcode });
}

export interface TransactionalAppServiceOptions {
  homeserverToken: string;
  transactions: TransactionStore;
  log: Logger;
  metrics: BridgeMetrics;
  now?: () => number;
  /**
   * Runs once a transaction's events were handled, before it is recorded (catch-up marks).
   * A failure is logged and does not fail the transaction.
   */
  afterEvents?(events: readonly Json[]): Promise<void>;
  /** Where room events that failed for now wait for another try (none: their transaction fails). */
  retries?: EventRetryQueue;
  /**
   * Makes the writes of the handling durable (fsyncs), before the transaction is acknowledged;
   * a failure fails the transaction (the homeserver sends it again).
   */
  durable?(): Promise<void>;
  /** The store's changed rows so far (BridgeStore.changes): a transaction that changed none skips durable(). */
  changes?(): Promise<number | undefined>;
  /** Writes the handlers leave pending, settled before the transaction is recorded. */
  writes?: TransactionWrites;
  /**
   * The homeserver may count a push as failed: the bridge answered it with an error or after
   * `slowAnswerMs`, or it came again (catch-up.ts says why that can lose events).
   */
  onPushFailed?(why: "error" | "slow" | "resent"): void;
  /** An answer this late counts as failed (default 30 s; Synapse gives up after 60 s). */
  slowAnswerMs?: number;
  /** Rooms whose events are handled side by side (appservice.room_concurrency; 1: one event at a time). */
  roomConcurrency?: number;
}

export class TransactionalAppService extends AppService {
  private httpServer: Server | undefined;
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly tokenHash: Buffer;
  private readonly o: TransactionalAppServiceOptions;
  private extensionHandler: ExtensionHandler | undefined;
  private readonly mounted: { prefix: string; handle: RequestHandler }[] = [];

  constructor(o: TransactionalAppServiceOptions) {
    super({ homeserverToken: o.homeserverToken });
    this.o = o;
    this.tokenHash = hashToken(o.homeserverToken);
  }

  /** Where the encryption parts of transactions go (none: they are ignored). */
  setExtensionHandler(handler: ExtensionHandler | undefined): void {
    this.extensionHandler = handler;
  }

  /** Serves every path under `prefix` (the provisioning API) with `handle`; set before listen(). */
  mount(prefix: string, handle: RequestHandler): void {
    this.mounted.push({ prefix: prefix.replace(/\/+$/, ""), handle });
  }

  /** The port actually bound (useful with port 0). */
  get port(): number | undefined {
    return (this.httpServer?.address() as AddressInfo | null)?.port;
  }

  override listen(
    port: number,
    hostname: string,
    backlog: number,
    callback?: () => void,
  ): Promise<void> | undefined {
    const server = createServer((req, res) => this.route(req, res));
    server.keepAliveTimeout = 65_000;
    server.requestTimeout = 120_000;
    this.httpServer = server;
    const listening = new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, hostname, backlog, () => {
        server.off("error", reject);
        resolve();
      });
    });
    // Kept events are tried again once the handlers listen (matrix-appservice-bridge attached them).
    const retries = this.o.retries;
    const started = retries
      ? listening.then(() =>
          retries.start(
            (e) => this.o.writes?.outside(() => this.deliver("event", e)) ?? this.deliver("event", e),
          ),
        )
      : listening;
    if (callback) {
      void started.then(callback);
      return undefined;
    }
    return started;
  }

  override async close(): Promise<void> {
    const server = this.httpServer;
    if (!server) return;
    this.httpServer = undefined;
    await this.o.retries?.stop();
    // Transactions in flight finish, then their connections close (left idle they held a SIGTERM 10 s).
    const cutAt = Date.now() + 10_000;
    const cut = setInterval(
      () => (Date.now() < cutAt ? server.closeIdleConnections() : server.closeAllConnections()),
      50,
    );
    await new Promise<void>((resolve) => server.close(() => resolve()));
    clearInterval(cut);
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "").split("?")[0]!;
    const mount = this.mounted.find((m) => path === m.prefix || path.startsWith(`${m.prefix}/`));
    if (mount) {
      mount.handle(req, res);
      return;
    }
    const match = req.method === "PUT" ? TXN_PATH.exec(req.url ?? "") : null;
    if (!match) {
      (this.expressApp as unknown as (req: IncomingMessage, res: ServerResponse) => void)(req, res);
      return;
    }
    this.onPutTransaction(req, res, match[1]!).catch((err: unknown) => {
      const e = isBridgeError(err, "appservice_http") ? err : httpError(500, "M_UNKNOWN", "internal error");
      const status = e.status ?? 500;
      if (isRetryLater(err))
        this.o.log.info({ txnId: match[1] }, "appservice transaction deferred; the homeserver will retry");
      else if (status >= 500)
        this.o.log.error({ err }, "appservice transaction failed; the homeserver will retry");
      else this.o.log.warn({ status, errcode: e.errcode }, `appservice request refused: ${e.message}`);
      if (!res.headersSent) this.reply(res, status, { errcode: e.errcode, error: e.message });
    });
  }

  private reply(res: ServerResponse, status: number, body: Json): void {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  private authorized(req: IncomingMessage): boolean {
    const header = req.headers.authorization;
    let token: string | undefined;
    if (header?.startsWith("Bearer ")) token = header.slice("Bearer ".length);
    else token = new URL(req.url ?? "/", "http://x").searchParams.get("access_token") ?? undefined;
    return token !== undefined && timingSafeEqual(hashToken(token), this.tokenHash);
  }

  private async readJson(req: IncomingMessage): Promise<Json> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) throw httpError(413, "M_TOO_LARGE", "transaction too large");
      chunks.push(chunk);
    }
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
      if (!body || typeof body !== "object" || Array.isArray(body)) throw new Error("not an object");
      return body as Json;
    } catch {
      throw httpError(400, "M_NOT_JSON", "the transaction is not a JSON object");
    }
  }

  private async onPutTransaction(req: IncomingMessage, res: ServerResponse, rawId: string): Promise<void> {
    if (!this.authorized(req)) {
      req.resume();
      throw httpError(403, "M_FORBIDDEN", "bad homeserver token");
    }
    let txnId: string;
    try {
      txnId = decodeURIComponent(rawId);
    } catch {
      throw httpError(400, "M_INVALID_PARAM", "bad transaction id");
    }
    const now = this.o.now ?? Date.now;
    const started = now();
    await this.receive(req, res, txnId).catch((err: unknown) => {
      this.o.onPushFailed?.("error");
      throw err;
    });
    if (now() - started >= (this.o.slowAnswerMs ?? 30_000)) this.o.onPushFailed?.("slow");
  }

  private async receive(req: IncomingMessage, res: ServerResponse, txnId: string): Promise<void> {
    const body = await this.readJson(req);
    const list = (v: unknown): Json[] =>
      Array.isArray(v) ? v.filter((e): e is Json => !!e && typeof e === "object") : [];
    const events = list(body.events);
    const ephemeral = list(body.ephemeral ?? body["de.sorunome.msc2409.ephemeral"]);
    const extensions = parseTransactionExtensions(body);
    if (extensions.dropped > 0)
      this.o.log.warn(
        { txnId, dropped: extensions.dropped },
        "malformed encryption entries in a transaction ignored",
      );

    // Keyed by id and events: a homeserver that reuses an id for other events (Synapse on SQLite
    // after a restart) must not be answered by the first delivery's outcome.
    const key = `${txnId}\n${transactionHash(events, ephemeral, extensions)}`;
    let apply = this.inFlight.get(key);
    if (!apply) {
      apply = this.apply(txnId, events, ephemeral, extensions).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, apply);
    } else {
      this.o.metrics.transactions.inc({ outcome: "duplicate" });
      this.o.onPushFailed?.("resent");
    }
    await apply;
    this.reply(res, 200, {});
  }

  private async apply(
    txnId: string,
    events: Json[],
    ephemeral: Json[],
    extensions: TransactionExtensions,
  ): Promise<void> {
    const hash = transactionHash(events, ephemeral, extensions);
    const seen = await this.o.transactions.get(txnId);
    if (seen && seen.eventsHash === hash) {
      this.o.metrics.transactions.inc({ outcome: "duplicate" });
      this.o.log.debug({ txnId }, "transaction already applied; acknowledged again");
      this.o.onPushFailed?.("resent");
      // Recorded before a crash, maybe not yet fsynced.
      await this.o.durable?.();
      return;
    }
    if (seen) {
      // Synapse on SQLite numbers transactions from the highest one not yet completed when it starts,
      // so ids of completed transactions come again after a restart (as after a database reset).
      this.o.log.debug({ txnId }, "the homeserver reused a transaction id with other events; applying it");
    }
    const timer = this.o.metrics.transactionSeconds.startTimer();
    const changesBefore = await this.o.changes?.();
    // A failure here fails the transaction: the homeserver sends it again.
    if (this.extensionHandler && !isEmpty(extensions)) await this.extensionHandler(extensions);
    // One lane per room (room-lanes.ts): a room's events, then its receipts and typing, in order.
    const lane = (e: Json) => (typeof e.room_id === "string" ? e.room_id : undefined);
    const items: LaneItem[] = [
      ...events.map((event) => ({
        lane: lane(event),
        run: () => {
          const type = typeof event.type === "string" && COUNTED_TYPES.has(event.type) ? event.type : "other";
          this.o.metrics.events.inc({ type });
          return this.dispatch("event", event);
        },
      })),
      ...ephemeral.map((event) => ({ lane: lane(event), run: () => this.dispatch("ephemeral", event) })),
    ];
    const handleAll = async () => {
      const { maxAtOnce } = await runInRoomLanes(items, this.o.roomConcurrency ?? DEFAULT_ROOM_CONCURRENCY);
      if (maxAtOnce > 0) this.o.metrics.transactionRoomsAtOnce.observe(maxAtOnce);
    };
    // What the handlers left pending (transaction-writes.ts) is done before anything is recorded.
    if (this.o.writes) await this.o.writes.run(handleAll);
    else await handleAll();
    const wrote = changesBefore === undefined || (await this.o.changes!()) !== changesBefore;
    if (this.o.afterEvents && events.length > 0) {
      await this.o
        .afterEvents(events)
        .catch((err: unknown) =>
          this.o.log.warn({ err, txnId }, "after a transaction: recording where its rooms stand failed"),
        );
    }
    await this.o.transactions.put({ txnId, eventsHash: hash, processedAt: (this.o.now ?? Date.now)() });
    // One fsync for what the handling wrote; none if nothing (the bridge's own events coming back):
    // the record and marks only spare work if it comes again, and handling it again changes nothing.
    if (wrote) await this.o.durable?.();
    timer();
    this.o.metrics.transactions.inc({ outcome: "processed" });
    this.o.log.trace(
      { txnId, events: events.length, toDevice: extensions.toDevice.length },
      "transaction applied",
    );
  }

  /**
   * Hands one event of a transaction to the listeners. A room event that throws
   * RetryLater is kept in the retry queue and tried again alone from there
   * (handlers bound how long they ask for that, see RetryWindow), as is one that
   * points at a kept event (it waits behind it); without a queue, RetryLater fails
   * the transaction, so the homeserver sends it again.
   */
  private async dispatch(kind: "event" | "ephemeral", event: Json): Promise<void> {
    const retries = kind === "event" ? this.o.retries : undefined;
    const eventId = typeof event.event_id === "string" ? event.event_id : undefined;
    if (retries && eventId) {
      // Already kept (a transaction delivered again after a crash): tried from the queue.
      if (retries.has(eventId)) return;
      const blocker = retries.blockerOf(event);
      if (blocker) return retries.defer(event, { waitsFor: blocker });
    }
    try {
      await this.deliver(kind, event);
    } catch (err) {
      this.o.metrics.eventRetries.inc();
      const where = { eventId: event.event_id, type: event.type, room: event.room_id };
      if (!retries || !eventId) {
        this.o.log.warn(
          { err, ...where },
          "a Matrix event must be tried again; failing the transaction so the homeserver resends it",
        );
        throw err;
      }
      await retries.defer(event);
    }
  }

  /**
   * Hands one event to the listeners and waits for them; rethrows RetryLater. Any
   * other failure is logged and counted and does not hold up the transaction (a
   * poison event would otherwise block every later one); handlers that must not
   * lose an event turn their failures into RetryLater themselves, or tell the user.
   */
  private async deliver(kind: "event" | "ephemeral", event: Json): Promise<void> {
    for (const listener of this.listeners(kind)) {
      try {
        await (listener as (e: Json) => unknown)(event);
      } catch (err) {
        if (isRetryLater(err)) throw err;
        this.o.metrics.eventErrors.inc();
        this.o.log.error(
          { err, eventId: event.event_id, type: event.type, room: event.room_id },
          "handling a Matrix event failed",
        );
      }
    }
  }
}
