// One bridged Matrix identity (the bot or a ghost) with its own device and
// OlmMachine. Every operation on the machine runs under the identity's lock,
// and the machine's state is saved (sealed, in crypto_identities) before any
// request that depends on it leaves and before the caller may acknowledge
// what it fed in: a crash can then only repeat a request, never send one the
// saved state does not know about (which is what makes "one time key already
// exists" and undecryptable messages).
import { createHash } from "node:crypto";
import {
  DecryptionSettings,
  DeviceId,
  DeviceLists,
  EncryptionSettings,
  KeysUploadRequest,
  OlmMachine,
  RoomId,
  StoreHandle,
  TrustRequirement,
  UserId,
  ProcessedToDeviceEventType,
  type UTDToDeviceEvent,
  type DecryptedRoomEvent,
  type ProcessedToDeviceEvent,
  type RoomKeyInfo,
} from "@matrix-org/matrix-sdk-crypto-wasm";
import type { Logger } from "../../logger.js";
import type { CryptoStore } from "../../core/ports/store.js";
import { enc, type MatrixRequests } from "./matrix-requests.js";
import { encryptedToDevice, randomTxn, sendMachineRequest, type MachineRequest } from "./machine-requests.js";
import type { CryptoStoreKey } from "./crypto-store-key.js";
import type { IdbFactory } from "./idb-types.js";
import { deleteDatabases, parseSnapshot, readDatabases, writeDatabases } from "./idb-snapshot.js";
import { RecordTracker } from "./idb-records.js";
import { openSnapshot, sealSnapshot } from "./sealed-snapshot.js";
import type { Json } from "./transaction-extensions.js";
import { SYNC_FILTER, parseSyncChanges, type DeviceChanges } from "./sync-changes.js";
export { parseSyncChanges, type DeviceChanges } from "./sync-changes.js";

/** Requests the machine asks for in one round, at most (a loop guard, not a limit in practice). */
const MAX_ROUNDS = 16;

export interface IdentityDeps {
  store: CryptoStore;
  key: CryptoStoreKey;
  http: MatrixRequests;
  log: Logger;
  idb: IdbFactory;
  now?: () => number;
  /** Called with the room keys that arrived (to retry events kept undecryptable). */
  onRoomKeys?: (userId: string, keys: { sessionId: string; roomId: string }[]) => void;
  /** Handed the to-device events each transaction's part decrypted to (after they are saved). */
  onToDevice?: (userId: string, processed: ProcessedToDeviceEvent[]) => void;
  /** Told the bytes each save wrote (sealed rows). */
  onSaved?: (bytes: number) => void;
}

export function storeName(userId: string): string {
  return `people-crypto-${createHash("sha256").update(userId).digest("hex").slice(0, 32)}`;
}

const databasesOf = (name: string) => [`${name}::matrix-sdk-crypto`, `${name}::matrix-sdk-crypto-meta`];

export class CryptoIdentity {
  private lock: Promise<unknown> = Promise.resolve();
  private closed = false;
  private catching: Promise<number> | undefined;
  /** The users the store's index says this machine tracks (undefined: not read yet). */
  private tracked: Set<string> | undefined;

  private constructor(
    readonly userId: string,
    readonly deviceId: string,
    private readonly machine: OlmMachine,
    private readonly d: IdentityDeps,
    private readonly records: RecordTracker,
    /** Loaded from a whole-machine snapshot: the first save empties it. */
    private legacy: boolean,
  ) {
    if (d.onRoomKeys) {
      const cb = d.onRoomKeys;
      machine.registerRoomKeyUpdatedCallback(async (infos: RoomKeyInfo[]) => {
        cb(
          userId,
          infos.map((i) => ({ sessionId: i.sessionId, roomId: i.roomId.toString() })),
        );
      });
    }
  }

  /**
   * Opens the machine of `userId`/`deviceId` from its saved rows, or from
   * `legacy` (a whole snapshot of before per-record rows) when there are none,
   * otherwise new (the caller has recorded the device id first).
   */
  static async open(userId: string, deviceId: string, legacy: Buffer | undefined, d: IdentityDeps) {
    const name = storeName(userId);
    const sealKey = d.key.snapshotKey(userId);
    const records = new RecordTracker(sealKey, {
      seal: (rkey, plain) => sealSnapshot(sealKey, userId, deviceId, plain, rkey),
      open: (rkey, sealed) => openSnapshot(sealKey, userId, deviceId, sealed, rkey),
    });
    await deleteDatabases(d.idb, databasesOf(name));
    const rows = await d.store.loadRecords(userId);
    let fromLegacy = false;
    if (rows.length > 0) {
      await writeDatabases(d.idb, records.restore(rows));
      records.rebase(await readDatabases(d.idb, databasesOf(name)));
    } else if (legacy && legacy.length > 0) {
      await writeDatabases(d.idb, parseSnapshot(openSnapshot(sealKey, userId, deviceId, legacy)));
      fromLegacy = true;
    }
    const handle = await StoreHandle.openWithKey(name, d.key.wasmStoreKey(userId));
    const machine = await OlmMachine.initFromStore(new UserId(userId), new DeviceId(deviceId), handle);
    handle.free();
    return new CryptoIdentity(userId, deviceId, machine, d, records, fromLegacy);
  }

  /** Runs `fn` alone on this identity (operations and their saves never interleave). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private get as() {
    return { userId: this.userId, deviceId: this.deviceId };
  }

  /**
   * Writes what changed in the machine's state since the last save (sealed
   * rows) and which users it tracks now, in one transaction: the old or the
   * new state, never half.
   */
  async save(): Promise<void> {
    const dbs = await readDatabases(this.d.idb, databasesOf(storeName(this.userId)));
    const diff = this.records.diff(dbs);
    const now = new Set([...(await this.machine.trackedUsers())].map((u) => u.toString()));
    const before = this.tracked;
    const track = [...now].filter((u) => !before?.has(u));
    const untrack = before ? [...before].filter((u) => !now.has(u)) : [];
    if (
      diff.put.length === 0 &&
      diff.del.length === 0 &&
      track.length === 0 &&
      untrack.length === 0 &&
      !this.legacy
    )
      return;
    await this.d.store.save(this.userId, {
      put: diff.put,
      del: diff.del,
      track,
      untrack,
      ...(this.legacy ? { dropSnapshot: true } : {}),
      savedAt: (this.d.now ?? Date.now)(),
    });
    this.records.commit(diff);
    this.tracked = now;
    this.legacy = false;
    this.d.onSaved?.(diff.put.reduce((n, r) => n + r.sealed.length, 0));
  }

  /** Sends what the machine asks for (key uploads, queries, claims, to-device), saving first. Under the lock. */
  private async flush(): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const requests = await this.machine.outgoingRequests();
      if (requests.length === 0) return;
      await this.save();
      for (const r of requests) await this.send(r);
      await this.save();
    }
    this.d.log.warn({ user: this.userId }, "the crypto machine kept asking for requests; the rest waits");
  }

  private async send(r: MachineRequest): Promise<void> {
    const answer = await sendMachineRequest(this.d.http, this.as, r);
    if (answer === undefined) return this.d.log.debug({ type: r.type }, "crypto request type not sent");
    if (r.id !== undefined) await this.machine.markRequestAsSent(r.id, r.type, JSON.stringify(answer));
  }

  /** Sends pending requests (under the lock). */
  flushRequests(): Promise<void> {
    return this.exclusive(() => this.flush());
  }

  /** Whether this machine knows that device (it shares room keys with the devices it knows). */
  knowsDevice(userId: string, deviceId: string): Promise<boolean> {
    return this.exclusive(async () => {
      const device = await this.machine.getDevice(new UserId(userId), new DeviceId(deviceId));
      const known = device !== undefined;
      device?.free();
      return known;
    });
  }

  /** The device's Curve25519 identity key (what other devices know it by). */
  identityKeys(): string {
    return this.machine.identityKeys.curve25519.toBase64();
  }

  /** Whether this device's own user has cross-signing keys the device holds. */
  async crossSigned(): Promise<boolean> {
    const s = await this.machine.crossSigningStatus();
    return s.hasMaster && s.hasSelfSigning && s.hasUserSigning;
  }

  /**
   * Creates the user's cross-signing keys and signs this device with them, so
   * clients see a device verified by its owner. Saved before anything is sent.
   */
  bootstrapCrossSigning(): Promise<void> {
    return this.exclusive(async () => {
      await this.flush();
      const b = await this.machine.bootstrapCrossSigning(true);
      await this.save();
      const upload = b.uploadKeysRequest as KeysUploadRequest | undefined;
      if (upload) await this.send(upload);
      await this.d.http.request(
        "POST",
        "/_matrix/client/v3/keys/device_signing/upload",
        this.as,
        b.uploadSigningKeysRequest.body,
      );
      await this.send(b.uploadSignaturesRequest);
      await this.save();
      await this.flush();
    });
  }

  /** Feeds one transaction's part for this device; saved and answered before it returns. */
  receive(c: DeviceChanges): Promise<void> {
    return this.exclusive(async () => {
      const lists = new DeviceLists(
        c.changed.map((u) => new UserId(u)),
        c.left.map((u) => new UserId(u)),
      );
      const processed = await this.machine.receiveSyncChangesMsc4186(
        JSON.stringify(c.toDevice),
        lists,
        c.oneTimeKeyCounts ?? new Map<string, number>(),
        c.fallbackKeyTypes ? new Set(c.fallbackKeyTypes) : undefined,
      );
      const undecryptable = processed.filter((p) => p.type === ProcessedToDeviceEventType.UnableToDecrypt);
      // Debug only: a replay of what a catch-up already gave is normal, and a real loss shows as
      // an undecryptable room event (logged and answered with a notice).
      if (undecryptable.length > 0)
        this.d.log.debug(
          {
            user: this.userId,
            count: undecryptable.length,
            reasons: undecryptable.map((u) => (u as UTDToDeviceEvent).utdInfo.reason),
          },
          "to-device events did not decrypt (a replay from a catch-up is harmless)",
        );
      await this.save();
      await this.flush();
      this.d.onToDevice?.(this.userId, processed);
    });
  }

  /**
   * Sends `content` as an Olm-encrypted to-device event of `type` to these devices (tracked,
   * queried and given sessions first); devices the machine still does not know are returned.
   */
  sendEncryptedToDevice(
    targets: readonly { userId: string; deviceId: string }[],
    type: string,
    content: Json,
  ): Promise<string[]> {
    return this.exclusive(async () => {
      const users = () => [...new Set(targets.map((t) => t.userId))].map((u) => new UserId(u));
      await this.machine.updateTrackedUsers(users());
      await this.flush();
      const claim = await this.machine.getMissingSessions(users());
      if (claim) {
        await this.save();
        await this.send(claim);
      }
      const sent = await encryptedToDevice(this.machine, targets, type, content);
      // Saved before it leaves: the Olm ratchet moved.
      await this.save();
      if (Object.keys(sent.messages).length > 0)
        await this.d.http.request(
          "PUT",
          `/_matrix/client/v3/sendToDevice/m.room.encrypted/${enc(randomTxn())}`,
          this.as,
          { messages: sent.messages },
        );
      return sent.unknown;
    });
  }

  /**
   * Encrypts an event for `members` of the room: tracks them, claims missing
   * Olm sessions, shares the room key as `settings` say, then encrypts. The
   * state is saved before each step's requests and before the encrypted
   * content is returned (a reused Megolm index would be refused by readers).
   */
  encrypt(
    roomId: string,
    members: readonly string[],
    settings: EncryptionSettings,
    type: string,
    content: Json,
  ): Promise<Json> {
    return this.exclusive(async () => {
      const users = () => members.map((u) => new UserId(u));
      const room = new RoomId(roomId);
      await this.machine.updateTrackedUsers(users());
      await this.flush();
      const claim = await this.machine.getMissingSessions(users());
      if (claim) {
        await this.save();
        await this.send(claim);
      }
      const toDevice = await this.machine.shareRoomKey(room, users(), settings);
      if (toDevice.length > 0) {
        await this.save();
        for (const r of toDevice) await this.send(r);
      }
      const encrypted = await this.machine.encryptRoomEvent(room, type, JSON.stringify(content));
      await this.save();
      return JSON.parse(encrypted) as Json;
    });
  }

  /** Decrypts a room event (throws the library's MegolmDecryptionError when it cannot). */
  decrypt(event: Json, roomId: string): Promise<DecryptedRoomEvent> {
    return this.exclusive(() =>
      this.machine.decryptRoomEvent(
        JSON.stringify(event),
        new RoomId(roomId),
        new DecryptionSettings(TrustRequirement.Untrusted),
      ),
    );
  }

  /**
   * Fetches the to-device messages, device-list changes and key counts the
   * homeserver holds for this device through /sync (as the device), and feeds
   * them in. Synapse pushes these to the appservice only once: a transaction
   * that failed (the bridge was down) is retried with its room events only.
   * The position is kept after the machine saved what it got.
   */
  catchUp(): Promise<number> {
    this.catching ??= this.syncOnce().finally(() => (this.catching = undefined));
    return this.catching;
  }

  private async syncOnce(): Promise<number> {
    let since = await this.d.store.getSyncToken(this.userId);
    let total = 0;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const query = new URLSearchParams({ timeout: "0", filter: JSON.stringify(SYNC_FILTER) });
      if (since) query.set("since", since);
      const answer = await this.d.http.request("GET", `/_matrix/client/v3/sync?${query}`, this.as);
      const changes = parseSyncChanges(answer);
      if (!changes) throw new Error("the /sync answer has no next_batch");
      if (
        changes.toDevice.length > 0 ||
        changes.changed.length > 0 ||
        changes.left.length > 0 ||
        changes.oneTimeKeyCounts
      )
        await this.receive(changes);
      total += changes.toDevice.length;
      since = changes.nextBatch;
      await this.d.store.putSyncToken(this.userId, since);
      if (changes.toDevice.length === 0) break;
    }
    return total;
  }

  /** Drops the room's outbound session, so the next message starts a new one (membership left, settings changed). */
  invalidateRoomSession(roomId: string): Promise<void> {
    return this.exclusive(async () => {
      await this.machine.invalidateGroupSession(new RoomId(roomId));
      await this.save();
    });
  }

  /**
   * Closes the machine once the operation in hand is done (each operation
   * saved its state before it returned: nothing to write here) and frees its
   * in-memory databases.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.exclusive(async () => {
      this.machine.close();
      await deleteDatabases(this.d.idb, databasesOf(storeName(this.userId)));
    });
  }
}
