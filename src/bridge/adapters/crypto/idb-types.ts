// The part of the IndexedDB API the snapshot code uses. The project compiles
// without the DOM library (it would change Node's global types for everyone),
// so these few shapes are declared here; fake-indexeddb implements them.
/* eslint-disable @typescript-eslint/no-explicit-any */

export type IdbKey = string | number | Date | ArrayBufferView | ArrayBuffer | IdbKey[];

export interface IdbRequest<T> {
  result: T;
  error: Error | null;
  onsuccess: ((ev: unknown) => unknown) | null;
  onerror: ((ev: unknown) => unknown) | null;
}

export interface IdbOpenRequest extends IdbRequest<IdbDatabase> {
  onupgradeneeded: ((ev: unknown) => unknown) | null;
}

export interface IdbIndex {
  keyPath: string | string[];
  unique: boolean;
  multiEntry: boolean;
}

export interface IdbObjectStore {
  keyPath: string | string[] | null;
  autoIncrement: boolean;
  indexNames: ArrayLike<string> & Iterable<string>;
  index(name: string): IdbIndex;
  getAllKeys(): IdbRequest<IdbKey[]>;
  getAll(): IdbRequest<unknown[]>;
  put(value: unknown, key?: IdbKey): IdbRequest<IdbKey>;
  createIndex(
    name: string,
    keyPath: string | string[],
    o: { unique: boolean; multiEntry: boolean },
  ): IdbIndex;
}

export interface IdbTransaction {
  error: Error | null;
  objectStore(name: string): IdbObjectStore;
  oncomplete: ((ev: unknown) => unknown) | null;
  onerror: ((ev: unknown) => unknown) | null;
  onabort: ((ev: unknown) => unknown) | null;
}

export interface IdbDatabase {
  version: number;
  objectStoreNames: ArrayLike<string> & Iterable<string>;
  transaction(names: string[], mode: "readonly" | "readwrite"): IdbTransaction;
  createObjectStore(name: string, o: { autoIncrement: boolean }): IdbObjectStore;
  close(): void;
}

export interface IdbFactory {
  open(name: string, version?: number): IdbOpenRequest;
  deleteDatabase(name: string): IdbRequest<unknown>;
  databases(): Promise<{ name?: string; version?: number }[]>;
}

/** A new, empty in-memory IndexedDB (fake-indexeddb's factory). */
export function newIdbFactory(ctor: new () => unknown): IdbFactory {
  return new ctor() as any as IdbFactory;
}
