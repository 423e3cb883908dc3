// Runs one store suite against both engines: forEachEngine defines its
// describe block once for SQLite (a fresh file in a temp dir) and once for
// PostgreSQL (a fresh database in the run's test PostgreSQL). The store is
// opened before the block's tests and shared by them, so tests use their own
// addresses and ids.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/store/index.js";
import type { PeopleStore, StoreConfig } from "../../src/store/types.js";
import { testPostgres } from "./postgres.js";

export type EngineName = StoreConfig["engine"];

export interface EngineContext {
  engine: EngineName;
  /** The config the store was opened with (to open a second store on the same data). */
  config(): StoreConfig;
  /** Closes the store and opens it again on the same data; getStore() returns the new one. */
  reopen(): Promise<PeopleStore>;
}

export const ENGINES: readonly EngineName[] = ["sqlite", "postgres"];

export function forEachEngine(
  title: string,
  body: (getStore: () => PeopleStore, ctx: EngineContext) => void,
): void {
  for (const engine of ENGINES) {
    describe(`${title} [${engine}]`, function () {
      let store: PeopleStore | undefined;
      let config: StoreConfig | undefined;
      let tempDir: string | undefined;

      before(async function () {
        // The first PostgreSQL block of the run waits for initdb and startup.
        this.timeout(180_000);
        if (engine === "sqlite") {
          tempDir = mkdtempSync(join(tmpdir(), "people-store-"));
          config = { engine, connection: join(tempDir, "people.sqlite") };
        } else {
          const pg = await testPostgres();
          config = { engine, connection: await pg.createDatabase(title), poolMax: 5 };
        }
        store = await openStore(config);
      });

      after(async function () {
        await store?.close();
        store = undefined;
        if (tempDir) rmSync(tempDir, { recursive: true, force: true });
      });

      const getStore = (): PeopleStore => {
        if (!store) throw new Error("store not open (used outside a test?)");
        return store;
      };
      body(getStore, {
        engine,
        config: () => {
          if (!config) throw new Error("store not open (used outside a test?)");
          return config;
        },
        async reopen() {
          if (!config) throw new Error("store not open (used outside a test?)");
          await store?.close();
          store = undefined;
          store = await openStore(config);
          return store;
        },
      });
    });
  }
}
