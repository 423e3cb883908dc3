// The crypto machines of the bridge's Matrix identities: one per user that
// needs one (the bot, each ghost in an encrypted room), created on first use
// with its own device (MSC4190: PUT /devices/{id} as the appservice) and
// cross-signed by its own user. Machines are loaded from the bridge's
// database when an identity needs one and closed when idle (machine-pool.ts:
// at most encryption.max_machines in memory). Routes what appservice
// transactions carry to the right machine: to-device events and key counts
// to their device, device-list changes only to the machines tracking that
// user (kept in the store for machines not loaded, fed when they load).
import { randomBytes } from "node:crypto";
import "fake-indexeddb/auto";
import { IDBFactory } from "fake-indexeddb";
import { newIdbFactory, type IdbFactory } from "./idb-types.js";
import { initAsync, type ProcessedToDeviceEvent } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { Logger } from "../../logger.js";
import type { CryptoStore, DeviceListChange } from "../../core/ports/store.js";
import { enc, type MatrixRequests } from "./matrix-requests.js";
import type { CryptoStoreKey } from "./crypto-store-key.js";
import { CryptoIdentity, type DeviceChanges } from "./olm-identity.js";
import { MachinePool } from "./machine-pool.js";
import type { Json, TransactionExtensions } from "./transaction-extensions.js";

export interface CryptoManagerOptions {
  store: CryptoStore;
  key: CryptoStoreKey;
  http: MatrixRequests;
  log: Logger;
  /** Shown in the users' device lists. */
  deviceDisplayName: string;
  /** Room keys arrived (with the identity that received them). */
  onRoomKeys?: (userId: string, keys: { sessionId: string; roomId: string }[]) => void;
  /** To-device events a machine processed (decrypted or not), after they are saved. */
  onToDevice?: (userId: string, processed: ProcessedToDeviceEvent[]) => void;
  /** Most machines in memory at once (default 64). */
  maxMachines?: number;
  /** A machine unused this long is closed (default 300 s; 0: only the bound evicts). */
  idleMs?: number;
  metrics?: CryptoMetrics;
  now?: () => number;
}

/** What the manager reports (implemented by BridgeMetrics). */
export interface CryptoMetrics {
  machinesLoaded(n: number): void;
  machineLoaded(): void;
  /** Machines a device-list change was handed to now (loaded) or kept for (queued). */
  deviceListRouted(to: "loaded" | "queued", n: number): void;
  saved(bytes: number): void;
}

const DEVICE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** A new device id: "PEOPLE" and 10 random capitals. */
export function newDeviceId(): string {
  return `PEOPLE${Array.from(randomBytes(10), (b) => DEVICE_ALPHABET[b % 26]).join("")}`;
}

// The wasm store opens `globalThis.indexedDB`; each manager has its own
// in-memory factory, installed only while one of its machines opens.
let opening: Promise<unknown> = Promise.resolve();
function withFactory<T>(idb: IdbFactory, fn: () => Promise<T>): Promise<T> {
  const run = opening.then(async () => {
    const g = globalThis as { indexedDB?: unknown };
    const before = g.indexedDB;
    g.indexedDB = idb;
    try {
      return await fn();
    } finally {
      g.indexedDB = before;
    }
  });
  opening = run.catch(() => undefined);
  return run;
}

let wasmReady: Promise<void> | undefined;
const SWEEP_EVERY_MS = 10_000;

export class CryptoManager {
  private readonly idb = newIdbFactory(IDBFactory as unknown as new () => unknown);
  private readonly pool: MachinePool<CryptoIdentity>;
  /** Every identity with a device: user → device id (small; the machines themselves are in the pool). */
  private readonly known = new Map<string, string>();
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: CryptoManagerOptions) {
    this.pool = new MachinePool<CryptoIdentity>({
      max: o.maxMachines ?? 64,
      idleMs: o.idleMs ?? 300_000,
      load: (userId) => this.load(userId),
      ...(o.now ? { now: o.now } : {}),
      onChange: (event) => {
        this.o.metrics?.machinesLoaded(this.pool.size);
        if (event === "loaded") this.o.metrics?.machineLoaded();
      },
      onCloseError: (user, err) => this.o.log.warn({ err, user }, "closing a crypto machine failed"),
    });
  }

  private deps() {
    return {
      store: this.o.store,
      key: this.o.key,
      http: this.o.http,
      log: this.o.log,
      idb: this.idb,
      ...(this.o.onRoomKeys ? { onRoomKeys: this.o.onRoomKeys } : {}),
      ...(this.o.onToDevice ? { onToDevice: this.o.onToDevice } : {}),
      ...(this.o.metrics ? { onSaved: (b: number) => this.o.metrics?.saved(b) } : {}),
      ...(this.o.now ? { now: this.o.now } : {}),
    };
  }

  /** Loads the wasm and the list of identities (machines load when used). */
  async start(): Promise<void> {
    wasmReady ??= initAsync();
    await wasmReady;
    for (const { userId, deviceId } of await this.o.store.listIdentityIds()) this.known.set(userId, deviceId);
    this.sweeper = setInterval(() => {
      this.pool
        .sweep()
        .catch((err: unknown) => this.o.log.warn({ err }, "closing idle crypto machines failed"));
    }, SWEEP_EVERY_MS);
    this.sweeper.unref();
    this.o.log.info({ identities: this.known.size }, "crypto identities known");
  }

  /** Every identity the bridge has a device for. */
  users(): string[] {
    return [...this.known.keys()];
  }

  has(userId: string): boolean {
    return this.known.has(userId);
  }

  /** Whether the machine of `userId` is in memory now. */
  isLoaded(userId: string): boolean {
    return this.pool.has(userId);
  }

  /** Machines in memory now. */
  get loadedCount(): number {
    return this.pool.size;
  }

  /** Users whose machines are in memory now. */
  loadedUsers(): string[] {
    return this.pool.keys();
  }

  /**
   * Runs `fn` with the machine of `userId`, loaded or created (device, keys,
   * cross-signing) on first use; the machine stays loaded until `fn` settles.
   * `fn` must not ask for another identity's machine (the pool's bound could wait forever).
   */
  with<T>(userId: string, fn: (identity: CryptoIdentity) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error("the crypto manager is closed"));
    return this.pool.use(userId, fn);
  }

  /** The identity's device exists (made now if it did not). */
  async ensure(userId: string): Promise<void> {
    await this.with(userId, async () => undefined);
  }

  private async load(userId: string): Promise<CryptoIdentity> {
    wasmReady ??= initAsync();
    await wasmReady;
    const record = await this.o.store.getIdentity(userId);
    let identity: CryptoIdentity;
    if (record) {
      identity = await withFactory(this.idb, () =>
        CryptoIdentity.open(userId, record.deviceId, record.snapshot, this.deps()),
      );
    } else {
      const deviceId = newDeviceId();
      // The device id is recorded before the device exists, so a crash leaves
      // nothing on the homeserver the bridge does not know about.
      await this.o.store.putIdentity({
        userId,
        deviceId,
        snapshot: Buffer.alloc(0),
        savedAt: (this.o.now ?? Date.now)(),
      });
      this.known.set(userId, deviceId);
      await this.o.http.request(
        "PUT",
        `/_matrix/client/v3/devices/${enc(deviceId)}`,
        { userId },
        {
          display_name: this.o.deviceDisplayName,
        },
      );
      identity = await withFactory(this.idb, () =>
        CryptoIdentity.open(userId, deviceId, undefined, this.deps()),
      );
      await identity.exclusive(() => identity.save());
      this.o.log.info({ user: userId, device: deviceId }, "crypto device created");
    }
    this.known.set(userId, identity.deviceId);
    try {
      await identity.flushRequests();
      if (!(await identity.crossSigned())) {
        await identity.bootstrapCrossSigning();
        this.o.log.info({ user: userId, device: identity.deviceId }, "cross-signing set up for the device");
      }
      // Device-list changes that came while the machine was not loaded.
      const queued = await this.o.store.queuedDeviceChanges(userId);
      if (queued.length > 0) {
        await identity.receive({
          toDevice: [],
          changed: queued.filter((q) => !q.left).map((q) => q.changed),
          left: queued.filter((q) => q.left).map((q) => q.changed),
        });
        await this.o.store.clearDeviceChanges(
          userId,
          queued.map((q) => q.changed),
        );
      }
    } catch (err) {
      await identity.close();
      throw err;
    }
    return identity;
  }

  /**
   * Feeds a transaction's to-device events, device-list changes and key counts
   * to the machines they are for. Resolves once every machine saved its state
   * (or the change is kept for it in the store): the transaction may then be acknowledged.
   */
  async receive(x: TransactionExtensions): Promise<void> {
    const perUser = new Map<string, DeviceChanges>();
    const changesOf = (user: string): DeviceChanges => {
      let c = perUser.get(user);
      if (!c) perUser.set(user, (c = { toDevice: [], changed: [], left: [] }));
      return c;
    };
    const forDevice = (user: string, device: string): DeviceChanges | undefined =>
      this.known.get(user) === device ? changesOf(user) : undefined;
    let unknown = 0;
    for (const m of x.toDevice) {
      const c = forDevice(m.toUserId, m.toDeviceId);
      if (!c) {
        unknown++;
        continue;
      }
      c.toDevice.push({ type: m.type, sender: m.sender, content: m.content } satisfies Json);
    }
    for (const [user, devices] of x.oneTimeKeyCounts)
      for (const [device, counts] of devices) {
        const c = forDevice(user, device);
        if (c) c.oneTimeKeyCounts = counts;
      }
    for (const [user, devices] of x.fallbackKeyTypes)
      for (const [device, types] of devices) {
        const c = forDevice(user, device);
        if (c) c.fallbackKeyTypes = types;
      }
    await this.routeDeviceLists(x.deviceLists.changed, x.deviceLists.left, perUser, changesOf);
    if (unknown > 0)
      this.o.log.warn({ count: unknown }, "to-device events for devices the bridge does not hold");
    await Promise.all([...perUser].map(([user, c]) => this.with(user, (identity) => identity.receive(c))));
  }

  /**
   * Device lists are for the whole appservice: each change goes only to the
   * machines that track its user (the store's index): those loaded or fed by
   * this transaction anyway get it now, the others find it when they load.
   */
  private async routeDeviceLists(
    changed: readonly string[],
    left: readonly string[],
    perUser: Map<string, DeviceChanges>,
    changesOf: (user: string) => DeviceChanges,
  ): Promise<void> {
    if (changed.length === 0 && left.length === 0) return;
    const leftSet = new Set(left);
    const queue: DeviceListChange[] = [];
    const now = new Set<string>();
    for (const { userId, tracked } of await this.o.store.trackersOf([...changed, ...left])) {
      if (!this.known.has(userId)) continue;
      const isLeft = leftSet.has(tracked) && !changed.includes(tracked);
      if (this.pool.has(userId) || perUser.has(userId)) {
        const c = changesOf(userId);
        (isLeft ? c.left : c.changed).push(tracked);
        now.add(userId);
      } else queue.push({ userId, changed: tracked, left: isLeft });
    }
    if (queue.length > 0) {
      await this.o.store.queueDeviceChanges(queue);
      // A machine that started loading meanwhile may have read the queue before this write.
      for (const q of queue)
        if (this.pool.has(q.userId)) {
          (q.left ? changesOf(q.userId).left : changesOf(q.userId).changed).push(q.changed);
          now.add(q.userId);
        }
    }
    const queuedFor = new Set(queue.map((q) => q.userId));
    this.o.metrics?.deviceListRouted("loaded", now.size);
    this.o.metrics?.deviceListRouted("queued", [...queuedFor].filter((u) => !now.has(u)).length);
  }

  /** Refuses new work, lets running operations finish (up to `graceMs`), then closes the machines. */
  async close(graceMs?: number): Promise<void> {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    await this.pool.close(graceMs);
    this.o.metrics?.machinesLoaded(0);
  }
}
