// The People server's persistence: the PeopleStore contract and its knex implementation.

export { openStore, type OpenStoreOptions } from "./knex/open-store.js";
export type * from "./types.js";
