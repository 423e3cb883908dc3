// End-to-bridge encryption as the adapter sees it: decrypt an incoming
// m.room.encrypted event before the normal pipeline, encrypt what the bot or
// a ghost sends into an encrypted room, feed transactions' to-device parts to
// the machines, and keep events whose key has not arrived yet (telling the
// room once) until it does.
import { LRUCache } from "lru-cache";
import { DecryptionErrorCode, MegolmDecryptionError } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { BridgeConfig } from "../../config.js";
import { isRetryLater } from "../../core/error-kinds.js";
import type { Logger } from "../../logger.js";
import type { CryptoStore } from "../../core/ports/store.js";
import type { MatrixRequests } from "./matrix-requests.js";
import { forEachLimit } from "../../concurrency.js";
import { CryptoManager, type CryptoManagerOptions, type CryptoMetrics } from "./crypto-manager.js";
import type { CryptoStoreKey } from "./crypto-store-key.js";
import { RoomStateCache, ROOMS_CACHED, encryptionSettings, keyRecipients, MEGOLM } from "./room-state.js";
import type { Json, TransactionExtensions } from "./transaction-extensions.js";

export const UTD_NOTICE =
  "I could not decrypt this message yet (its key has not reached the bridge). " +
  "It will be bridged as soon as the key arrives.";
export const REQUIRE_NOTICE =
  "This bridge only bridges encrypted rooms: turn on encryption in this room (it cannot be turned off again).";

export interface EndToBridgeOptions {
  config: BridgeConfig["encryption"];
  store: CryptoStore;
  key: CryptoStoreKey;
  http: MatrixRequests;
  log: Logger;
  botUserId: string;
  deviceDisplayName: string;
  /** Machines caught up at once at start (bridge.startup_concurrency). */
  concurrency?: number;
  metrics?: CryptoMetrics;
  /** To-device events the machines processed (MatrixRTC media keys are picked from them). */
  onToDevice?: CryptoManagerOptions["onToDevice"];
}

/** Sends a notice (m.notice content) as `userId`; encrypted when the room is. */
export type NoticeSender = (userId: string, roomId: string, content: Json, txnKey: string) => Promise<void>;
/** Hands an event (decrypted late) to the normal pipeline. */
export type Redeliver = (raw: Json) => Promise<void>;

/** Events that carry what people say: refused in the clear under encryption.require. */
const REFUSED_TYPES = new Set([
  "m.room.message",
  "m.sticker",
  "m.reaction",
  "m.poll.start",
  "m.poll.end",
  "org.matrix.msc3381.poll.start",
  "org.matrix.msc3381.poll.end",
]);
const STATE_TYPES = new Set(["m.room.encryption", "m.room.history_visibility", "m.room.member"]);

export class EndToBridge {
  readonly manager: CryptoManager;
  readonly rooms: RoomStateCache;
  private readonly arrived = new Set<string>();
  // Per room, so bounded (ROOMS_CACHED, least recently used out): both are hints, the store keeps the holders.
  /** The identity that last decrypted in a room: tried first next time. */
  private readonly hint = new LRUCache<string, string>({ max: ROOMS_CACHED });
  /** Identities that received room keys of a room in this process (the store keeps it too). */
  private readonly keyHolders = new LRUCache<string, Set<string>>({ max: ROOMS_CACHED });
  private redeliver: Redeliver | undefined;
  private notice: NoticeSender | undefined;
  private stopping = false;
  private background: Promise<void> = Promise.resolve();

  constructor(private readonly o: EndToBridgeOptions) {
    this.manager = new CryptoManager({
      store: o.store,
      key: o.key,
      http: o.http,
      log: o.log.child({ component: "crypto" }),
      deviceDisplayName: o.deviceDisplayName,
      maxMachines: o.config.max_machines,
      idleMs: o.config.idle_seconds * 1000,
      ...(o.metrics ? { metrics: o.metrics } : {}),
      ...(o.onToDevice ? { onToDevice: o.onToDevice } : {}),
      onRoomKeys: (userId, keys) => {
        for (const k of keys) {
          this.arrived.add(k.sessionId);
          this.holds(k.roomId, userId);
        }
      },
    });
    this.rooms = new RoomStateCache(o.http);
  }

  /** `userId` holds keys of the room: its machine is tried first for the room's events. */
  private holds(roomId: string, userId: string): void {
    let set = this.keyHolders.get(roomId);
    if (!set) this.keyHolders.set(roomId, (set = new Set()));
    if (set.has(userId)) return;
    set.add(userId);
    this.o.store
      .addRoomIdentity(roomId, userId)
      .catch((err: unknown) =>
        this.o.log.warn({ err, room: roomId }, "could not record a room's key holder"),
      );
  }

  get config(): BridgeConfig["encryption"] {
    return this.o.config;
  }

  /** Loads the wasm and the list of identities (their machines load when needed). */
  async start(redeliver: Redeliver, notice: NoticeSender): Promise<void> {
    this.redeliver = redeliver;
    this.notice = notice;
    await this.manager.start();
  }

  /**
   * After the homeserver answers: the bot's device; then, in the background
   * (live transactions are handled meanwhile), every device's to-device
   * catch-up, a few at a time, and events whose keys came before a crash.
   */
  async connected(): Promise<void> {
    await this.manager.ensure(this.o.botUserId);
    const run = async () => {
      await this.catchUp(this.manager.users());
      if (this.stopping) return;
      const pending = await this.o.store.allPending();
      if (pending.length > 0) await this.retry(pending.map((p) => p.sessionId));
    };
    this.background = this.background
      .then(run)
      .catch((err: unknown) => this.o.log.warn({ err }, "crypto catch-up after start failed"));
  }

  /** Resolves when the catch-up started by connected() is done (tests, benches). */
  caughtUp(): Promise<void> {
    return this.background;
  }

  /** Fetches what the homeserver holds for these devices and did not push (see CryptoIdentity.catchUp). */
  async catchUp(users: readonly string[]): Promise<void> {
    // Synapse refuses /sync to the appservice's own sender (NotImplementedError, a 500):
    // the bot cannot catch up, only its transactions reach it.
    const devices = users.filter((u) => u !== this.o.botUserId);
    await forEachLimit(
      devices,
      this.o.concurrency ?? 8,
      async (user) => {
        try {
          this.o.log.debug({ user }, "catching up to-device messages");
          const n = await this.manager.with(user, (identity) => identity.catchUp());
          if (n > 0) this.o.log.info({ user, count: n }, "to-device messages caught up");
        } catch (err) {
          if (!this.stopping) this.o.log.warn({ err, user }, "catching up to-device messages failed");
        }
      },
      () => this.stopping,
    );
    await this.retryArrived();
  }

  private async retryArrived(): Promise<void> {
    if (this.arrived.size === 0) return;
    const ids = [...this.arrived];
    this.arrived.clear();
    await this.retry(ids);
  }

  /** A transaction's to-device part; then events waiting for the keys that came are bridged. */
  async onTransaction(x: TransactionExtensions): Promise<void> {
    await this.manager.receive(x);
    await this.retryArrived();
  }

  /** Every room event passes here first: room state that changes encryption is read again when needed. */
  observe(raw: Json): void {
    if (
      typeof raw.room_id === "string" &&
      typeof raw.state_key === "string" &&
      STATE_TYPES.has(String(raw.type))
    )
      this.rooms.invalidate(raw.room_id);
  }

  /** The user's device exists (created with keys and cross-signing on first call). */
  async ensureDevice(userId: string): Promise<void> {
    await this.manager.ensure(userId);
  }

  async isEncrypted(roomId: string, asUser: string): Promise<boolean> {
    return (await this.rooms.get(roomId, asUser)).encryption !== null;
  }

  /** The event as it must be sent by `userId`: encrypted when the room is. */
  async prepareSend(
    userId: string,
    roomId: string,
    type: string,
    content: Json,
  ): Promise<{ type: string; content: Json }> {
    const info = await this.rooms.get(roomId, userId);
    if (!info.encryption) return { type, content };
    if (info.encryption.algorithm !== MEGOLM)
      throw new Error(`unsupported room encryption ${info.encryption.algorithm}`);
    const recipients = [...new Set([...keyRecipients(info), userId])];
    const encrypted = await this.manager.with(userId, (identity) =>
      identity.encrypt(roomId, recipients, encryptionSettings(info), type, content),
    );
    return { type: "m.room.encrypted", content: encrypted };
  }

  /**
   * The identities that may hold the room's keys, likeliest first: the last
   * that decrypted there, those that received its keys, then those loaded.
   * Only a room nobody is recorded for (state saved before the record
   * existed) falls back to every identity.
   */
  private async candidates(roomId: string): Promise<string[]> {
    const holders = new Set([
      ...(this.keyHolders.get(roomId) ?? []),
      ...(await this.o.store.roomIdentities(roomId)),
    ]);
    const first = this.hint.get(roomId);
    const rest = holders.size > 0 ? this.manager.loadedUsers() : this.manager.users();
    return [...new Set([...(first ? [first] : []), ...holders, ...rest])].filter((u) => this.manager.has(u));
  }

  /** The decrypted event, or undefined when no machine has its key. */
  private async tryDecrypt(raw: Json): Promise<Json | undefined> {
    const roomId = String(raw.room_id);
    for (const user of await this.candidates(roomId)) {
      try {
        const d = await this.manager.with(user, (identity) => identity.decrypt(raw, roomId));
        this.hint.set(roomId, user);
        this.holds(roomId, user);
        const inner = JSON.parse(d.event) as Json;
        const content = (inner.content && typeof inner.content === "object" ? inner.content : {}) as Json;
        const wire = raw.content as Json;
        // Relations stay in the clear so the server can aggregate them (as clients read them).
        if (!("m.relates_to" in content) && wire["m.relates_to"])
          content["m.relates_to"] = wire["m.relates_to"];
        return { ...raw, type: inner.type, content };
      } catch (err) {
        if (err instanceof MegolmDecryptionError) {
          if (
            err.code !== DecryptionErrorCode.MissingRoomKey &&
            err.code !== DecryptionErrorCode.UnknownMessageIndex
          )
            this.o.log.warn({ room: roomId, code: err.code, identity: user }, "an event did not decrypt");
          continue;
        }
        throw err;
      }
    }
    return undefined;
  }

  /**
   * Decrypts `raw` for the pipeline. When no key is there yet the event is kept
   * (durably, before the transaction is acknowledged), the room is told, and
   * undefined is returned: the event comes back through redeliver when its key arrives.
   */
  async decrypt(raw: Json): Promise<Json | undefined> {
    const decrypted = await this.tryDecrypt(raw);
    if (decrypted) return decrypted;
    // The key may be among the to-device messages the homeserver did not push (after downtime).
    this.o.log.debug({ room: raw.room_id, event: raw.event_id }, "no key for an event yet; catching up");
    await this.catchUp(await this.candidates(String(raw.room_id)));
    const late = await this.tryDecrypt(raw);
    if (late) return late;
    const roomId = String(raw.room_id);
    const eventId = String(raw.event_id);
    const content = raw.content as Json;
    const sessionId = typeof content.session_id === "string" ? content.session_id : "";
    const fresh = await this.o.store.putPending({
      eventId,
      roomId,
      sessionId,
      eventJson: JSON.stringify(raw),
      receivedAt: Date.now(),
    });
    this.o.log.info({ room: roomId, event: eventId }, "an encrypted event waits for its key");
    if (fresh) await this.tellRoom(roomId, eventId, UTD_NOTICE, "utd");
    return undefined;
  }

  /**
   * encryption.require: a message-like event that arrived unencrypted is not
   * bridged; the room is told once per event. True when the event must be dropped.
   */
  async refuseUnencrypted(raw: Json, fromUs: boolean): Promise<boolean> {
    if (!this.o.config.require || fromUs || !REFUSED_TYPES.has(String(raw.type))) return false;
    const roomId = String(raw.room_id);
    const eventId = String(raw.event_id);
    this.o.log.info({ room: roomId, event: eventId }, "an unencrypted message refused (encryption.require)");
    await this.tellRoom(roomId, eventId, REQUIRE_NOTICE, "require");
    return true;
  }

  private async tellRoom(roomId: string, eventId: string, text: string, kind: string): Promise<void> {
    if (!this.notice) return;
    // A member of ours speaks: a ghost if one is in the room, else the bot.
    for (const candidate of await this.candidates(roomId)) {
      let joined: string[];
      try {
        joined = (await this.rooms.get(roomId, candidate)).joined;
      } catch {
        continue;
      }
      const speaker = joined.find((u) => u !== this.o.botUserId && this.manager.has(u));
      const who = speaker ?? (joined.includes(this.o.botUserId) ? this.o.botUserId : undefined);
      if (!who) continue;
      await this.notice(
        who,
        roomId,
        { msgtype: "m.notice", body: text, "m.relates_to": { "m.in_reply_to": { event_id: eventId } } },
        `${kind}\n${eventId}`,
      ).catch((err: unknown) =>
        this.o.log.warn({ err, room: roomId }, "could not tell the room about an undecryptable event"),
      );
      return;
    }
  }

  private async retry(sessionIds: string[]): Promise<void> {
    for (const p of await this.o.store.pendingForSessions(sessionIds)) {
      const decrypted = await this.tryDecrypt(JSON.parse(p.eventJson) as Json);
      if (!decrypted) continue;
      try {
        await this.redeliver?.(decrypted);
      } catch (err) {
        if (isRetryLater(err)) throw err;
        this.o.log.error({ err, event: p.eventId }, "a late-decrypted event failed in the pipeline");
      }
      await this.o.store.removePending(p.eventId);
      this.o.log.info({ room: p.roomId, event: p.eventId }, "a waiting event was decrypted and bridged");
    }
  }

  /** Stops the background catch-up (between devices) and closes the machines once their operation ends. */
  async close(graceMs = 2_000): Promise<void> {
    this.stopping = true;
    await this.manager.close(graceMs);
  }
}
