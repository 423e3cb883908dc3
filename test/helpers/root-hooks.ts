// Mocha root hooks for the whole run (loaded with `require` in .mocharc.cjs):
// services that tests start lazily are stopped once, when the run ends.

import { stopCoturn } from "./coturn.js";
import { stopTestPostgres } from "./postgres.js";
import { stopTorNetwork } from "./tor-network.js";

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await Promise.all([stopTestPostgres(), stopTorNetwork(), stopCoturn()]);
  },
};
