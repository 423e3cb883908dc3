// A crypto machine's IndexedDB databases as one byte string, and back.
//
// matrix-sdk-crypto-wasm keeps its state in IndexedDB only (or in memory). In
// Node the bridge gives it fake-indexeddb, which lives in memory: after every
// change that matters the databases of one machine are read in a single
// read-only transaction per database (so the copy is consistent) and
// serialized with v8.serialize; before the machine is opened in a new process
// the copy is written back, schema first. The crypto store only uses
// out-of-line keys, which is all this supports (a store with a keyPath throws).
import { deserialize, serialize } from "node:v8";
import type { IdbDatabase, IdbFactory, IdbKey, IdbRequest, IdbTransaction } from "./idb-types.js";

export interface IndexSchema {
  name: string;
  keyPath: string | string[];
  unique: boolean;
  multiEntry: boolean;
}

export interface StoreSnapshot {
  name: string;
  autoIncrement: boolean;
  indexes: IndexSchema[];
  /** [key, value] pairs in key order. */
  records: [IdbKey, unknown][];
}

export interface DatabaseSnapshot {
  name: string;
  version: number;
  stores: StoreSnapshot[];
}

const FORMAT = 1;

function request<T>(r: IdbRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error("IndexedDB request failed"));
  });
}

function done(tx: IdbTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
  });
}

function openExisting(factory: IdbFactory, name: string): Promise<IdbDatabase> {
  return request(factory.open(name));
}

async function readDatabase(factory: IdbFactory, name: string): Promise<DatabaseSnapshot> {
  const db = await openExisting(factory, name);
  try {
    const names = Array.from(db.objectStoreNames);
    const stores: StoreSnapshot[] = [];
    if (names.length > 0) {
      const tx = db.transaction(names, "readonly");
      const finished = done(tx);
      for (const storeName of names) {
        const store = tx.objectStore(storeName);
        if (store.keyPath !== null) throw new Error(`object store ${storeName} has a keyPath`);
        const indexes = Array.from(store.indexNames).map((indexName): IndexSchema => {
          const index = store.index(indexName);
          return {
            name: indexName,
            keyPath: index.keyPath,
            unique: index.unique,
            multiEntry: index.multiEntry,
          };
        });
        const [keys, values] = await Promise.all([request(store.getAllKeys()), request(store.getAll())]);
        stores.push({
          name: storeName,
          autoIncrement: store.autoIncrement,
          indexes,
          records: keys.map((k, i) => [k, values[i]]),
        });
      }
      await finished;
    }
    return { name, version: db.version, stores };
  } finally {
    db.close();
  }
}

/** The named databases (those that exist), each read in one transaction. */
export async function readDatabases(
  factory: IdbFactory,
  names: readonly string[],
): Promise<DatabaseSnapshot[]> {
  const existing = new Set((await factory.databases()).map((d) => d.name));
  const dbs: DatabaseSnapshot[] = [];
  for (const name of names) if (existing.has(name)) dbs.push(await readDatabase(factory, name));
  return dbs;
}

/** The named databases (those that exist) as bytes; databases that do not exist are left out. */
export async function snapshotDatabases(factory: IdbFactory, names: readonly string[]): Promise<Buffer> {
  return serialize({ format: FORMAT, dbs: await readDatabases(factory, names) });
}

async function writeDatabase(factory: IdbFactory, snap: DatabaseSnapshot): Promise<void> {
  await request(factory.deleteDatabase(snap.name));
  const open = factory.open(snap.name, snap.version);
  open.onupgradeneeded = () => {
    const db = open.result;
    for (const s of snap.stores) {
      const store = db.createObjectStore(s.name, { autoIncrement: s.autoIncrement });
      for (const i of s.indexes)
        store.createIndex(i.name, i.keyPath, { unique: i.unique, multiEntry: i.multiEntry });
    }
  };
  const db = await request(open);
  try {
    const names = snap.stores.map((s) => s.name);
    if (names.length === 0) return;
    const tx = db.transaction(names, "readwrite");
    const finished = done(tx);
    for (const s of snap.stores) {
      const store = tx.objectStore(s.name);
      for (const [key, value] of s.records) store.put(value, key);
    }
    await finished;
  } finally {
    db.close();
  }
}

/** Replaces the databases named in the snapshot with its contents. */
export async function restoreDatabases(factory: IdbFactory, bytes: Uint8Array): Promise<void> {
  await writeDatabases(factory, parseSnapshot(bytes));
}

/** The databases of a whole-machine snapshot (the format before per-record rows). */
export function parseSnapshot(bytes: Uint8Array): DatabaseSnapshot[] {
  const parsed = deserialize(bytes) as { format?: unknown; dbs?: unknown };
  if (parsed.format !== FORMAT || !Array.isArray(parsed.dbs)) throw new Error("not a crypto store snapshot");
  return parsed.dbs as DatabaseSnapshot[];
}

/** Replaces each database with the given contents. */
export async function writeDatabases(factory: IdbFactory, dbs: readonly DatabaseSnapshot[]): Promise<void> {
  for (const db of dbs) await writeDatabase(factory, db);
}

/** Deletes the named databases (a machine dropped from memory leaves nothing behind). */
export async function deleteDatabases(factory: IdbFactory, names: readonly string[]): Promise<void> {
  for (const name of names) await request(factory.deleteDatabase(name));
}
