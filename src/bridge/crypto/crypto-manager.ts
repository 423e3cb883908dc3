// The crypto machines of the bridge's Matrix identities: one per user that
// needs one (the bot, each ghost in an encrypted room), created on first use
// with its own device (MSC4190: PUT /devices/{id} as the appservice) and
// cross-signed by its own user, and loaded again from the bridge's database
// on start. Routes what appservice transactions carry to the right machine.
import { randomBytes } from "node:crypto";
import "fake-indexeddb/auto";
import { IDBFactory } from "fake-indexeddb";
import { newIdbFactory, type IdbFactory } from "./idb-types.js";
import { initAsync } from "@matrix-org/matrix-sdk-crypto-wasm";
import type { Logger } from "../logger.js";
import type { CryptoStore } from "../store/types.js";
import { enc, type MatrixRequests } from "./matrix-requests.js";
import type { CryptoStoreKey } from "./crypto-store-key.js";
import { CryptoIdentity, type DeviceChanges } from "./olm-identity.js";
import { sealSnapshot } from "./sealed-snapshot.js";
import { serialize } from "node:v8";
import type { Json, TransactionExtensions } from "./transaction-extensions.js";

export interface CryptoManagerOptions {
  store: CryptoStore;
  key: CryptoStoreKey;
  http: MatrixRequests;
  log: Logger;
  /** Shown in the users' device lists. */
  deviceDisplayName: string;
  /** Room keys arrived for these Megolm sessions. */
  onRoomKeys?: (sessionIds: string[]) => void;
  now?: () => number;
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

export class CryptoManager {
  private readonly idb = newIdbFactory(IDBFactory as unknown as new () => unknown);
  private readonly opening = new Map<string, Promise<CryptoIdentity>>();
  private readonly open = new Map<string, CryptoIdentity>();
  private closed = false;

  constructor(private readonly o: CryptoManagerOptions) {}

  private deps() {
    return {
      store: this.o.store,
      key: this.o.key,
      http: this.o.http,
      log: this.o.log,
      idb: this.idb,
      ...(this.o.onRoomKeys ? { onRoomKeys: this.o.onRoomKeys } : {}),
      ...(this.o.now ? { now: this.o.now } : {}),
    };
  }

  /** Loads the wasm and every saved identity (their devices keep receiving while the bridge runs). */
  async start(): Promise<void> {
    wasmReady ??= initAsync();
    await wasmReady;
    for (const record of await this.o.store.listIdentities()) {
      await this.identity(record.userId);
    }
    this.o.log.info({ identities: this.open.size }, "crypto machines loaded");
  }

  /** The machines open now. */
  loaded(): CryptoIdentity[] {
    return [...this.open.values()];
  }

  /** The identity of `userId`, loaded or created (device, keys, cross-signing) on first use. */
  identity(userId: string): Promise<CryptoIdentity> {
    if (this.closed) return Promise.reject(new Error("the crypto manager is closed"));
    let p = this.opening.get(userId);
    if (!p) {
      p = this.load(userId);
      this.opening.set(userId, p);
      p.catch(() => this.opening.delete(userId));
    }
    return p;
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
      const empty = sealSnapshot(
        this.o.key.snapshotKey(userId),
        userId,
        deviceId,
        serialize({ format: 1, dbs: [] }),
      );
      await this.o.store.putIdentity({
        userId,
        deviceId,
        snapshot: empty,
        savedAt: (this.o.now ?? Date.now)(),
      });
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
    await identity.flushRequests();
    if (!(await identity.crossSigned())) {
      await identity.bootstrapCrossSigning();
      this.o.log.info({ user: userId, device: identity.deviceId }, "cross-signing set up for the device");
    }
    this.open.set(userId, identity);
    return identity;
  }

  /**
   * Feeds a transaction's to-device events, device-list changes and key counts
   * to the machines they are for. Resolves once every machine saved its state:
   * the transaction may then be acknowledged.
   */
  async receive(x: TransactionExtensions): Promise<void> {
    const perDevice = new Map<CryptoIdentity, DeviceChanges>();
    const forDevice = (user: string, device: string): DeviceChanges | undefined => {
      const identity = this.open.get(user);
      if (!identity || identity.deviceId !== device) return undefined;
      let c = perDevice.get(identity);
      if (!c) perDevice.set(identity, (c = { toDevice: [], changed: [], left: [] }));
      return c;
    };
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
    if (x.deviceLists.changed.length > 0 || x.deviceLists.left.length > 0) {
      // Device lists are for the whole appservice: each machine keeps those of users it tracks.
      for (const identity of this.open.values()) {
        let c = perDevice.get(identity);
        if (!c) perDevice.set(identity, (c = { toDevice: [], changed: [], left: [] }));
        c.changed = x.deviceLists.changed;
        c.left = x.deviceLists.left;
      }
    }
    if (unknown > 0)
      this.o.log.warn({ count: unknown }, "to-device events for devices the bridge does not hold");
    await Promise.all([...perDevice].map(([identity, c]) => identity.receive(c)));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.opening.values()]);
    for (const identity of this.open.values()) await identity.close();
    this.open.clear();
  }
}
